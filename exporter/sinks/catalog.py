"""What an output location holds: its exports and their snapshots, read from the files alone.

For ``operate-export ls`` and the metrics file (last success time, watermark). Read-only: a
snapshot is complete exactly when its ``_manifest.json`` exists (snapshot.py); otherwise its
``_INCOMPLETE`` marker says why (in progress, failed, interrupted), and a directory with neither
is reported as ``unmarked``. A manifest that cannot be read is reported, never fatal: listing a
location must work on whatever a crash or a person left there.

Incremental exports (issue 15) record the window a snapshot holds in the manifest's
``incremental`` object (mode, field, from/to and their epoch millis); the watermark is the end of
the first contiguous interval of the complete ``incremental`` windows, as the incremental planner
computes it from the same manifests (starting at the oldest window: the spec's ``start`` is not
known from the files). A ``watermark`` field in a manifest, if one ever has it, wins. The latest
pointer ``_latest.json`` (written after each commit) is shown as it is. Files are found through
``layout.py``, the one reader of the layout.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pyarrow.fs as pafs

from exporter.sinks.fs import OutputLocation
from exporter.sinks.layout import (
    INCOMPLETE_NAME,
    LATEST_NAME,
    MANIFEST_NAME,
    read_json,
    scan_export,
)
from exporter.sinks.manifests import merge_intervals
from exporter.sinks.storage import Storage


@dataclass
class SnapshotInfo:
    """One ``snapshot=...`` directory."""

    name: str
    location: str
    status: str  # complete | in progress | failed | interrupted | unmarked | unreadable
    started_at: str | None = None
    finished_at: str | None = None
    records: int | None = None
    bytes: int | None = None
    files: int | None = None
    run_id: str | None = None
    reason: str | None = None
    windows: Any = None
    watermark: Any = None
    manifest: dict[str, Any] | None = field(default=None, repr=False)
    # An incremental window's [from_ms, to_ms) (mode "incremental" only), for the watermark.
    span: tuple[int, int] | None = field(default=None, repr=False)

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    def age_seconds(self, now: dt.datetime | None = None) -> float | None:
        """Seconds since it finished (complete) or started (incomplete); None if unknown."""
        moment = _parse_time(self.finished_at or self.started_at)
        if moment is None:
            return None
        return ((now or dt.datetime.now(dt.UTC)) - moment).total_seconds()

    def to_dict(self, now: dt.datetime | None = None) -> dict[str, Any]:
        hidden = ("manifest", "span")
        data = {k: v for k, v in self.__dict__.items() if k not in hidden and v is not None}
        data["complete"] = self.complete
        age = self.age_seconds(now)
        if age is not None:
            data["age_seconds"] = round(age, 3)
        return data


@dataclass
class ExportListing:
    """One export directory: its snapshots oldest first, the latest pointer and the lock."""

    export: str
    location: str
    snapshots: list[SnapshotInfo]
    latest_pointer: Any = None

    @property
    def latest_complete(self) -> SnapshotInfo | None:
        complete = [s for s in self.snapshots if s.complete]
        return complete[-1] if complete else None

    @property
    def watermark(self) -> Any:
        """A recorded watermark (newest first), else the end of the first contiguous interval
        of the complete incremental windows (ISO 8601), else None."""
        for snapshot in reversed(self.snapshots):
            if snapshot.complete and snapshot.watermark is not None:
                return snapshot.watermark
        # Without the spec, the run of windows is counted from the earliest committed one;
        # `operate-export state SPEC` and the metrics file count from the spec's `start`, so
        # a failed first window shows there as a watermark at that window.
        spans = merge_intervals([s.span for s in self.snapshots if s.complete and s.span])
        if not spans:
            return None
        end = spans[0][1]
        moment = dt.datetime.fromtimestamp(end / 1000, dt.UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _from_manifest(info: SnapshotInfo, manifest: dict[str, Any]) -> None:
    info.status = "complete"
    info.manifest = manifest
    info.started_at = manifest.get("started_at")
    info.finished_at = manifest.get("finished_at")
    info.records = _int_or_none(manifest.get("records"))
    info.bytes = _int_or_none(manifest.get("bytes"))
    files = manifest.get("files")
    info.files = len(files) if isinstance(files, list) else None
    info.run_id = manifest.get("run_id") or None
    info.windows = manifest.get("windows")
    info.watermark = manifest.get("watermark")
    incremental = manifest.get("incremental")
    if isinstance(incremental, dict):
        window = {k: incremental.get(k) for k in ("mode", "field", "from", "to")}
        info.windows = info.windows if info.windows is not None else [window]
        start, end = incremental.get("from_ms"), incremental.get("to_ms")
        if incremental.get("mode") == "incremental" and isinstance(start, int):
            info.span = (start, end) if isinstance(end, int) and start < end else None


def _from_marker(info: SnapshotInfo, marker: dict[str, Any]) -> None:
    info.status = str(marker.get("status") or "incomplete")
    info.started_at = marker.get("started_at")
    info.records = _int_or_none(marker.get("durable_records"))
    info.files = _int_or_none(marker.get("durable_parts"))
    info.run_id = marker.get("run_id") or None
    info.reason = marker.get("reason")


def read_snapshot(location: OutputLocation, path: str) -> SnapshotInfo:
    """What one snapshot directory says about itself."""
    storage = Storage(location)
    info = SnapshotInfo(path.rsplit("/", 1)[-1], location.display(path), "unmarked")
    for name, apply in ((MANIFEST_NAME, _from_manifest), (INCOMPLETE_NAME, _from_marker)):
        try:
            data = read_json(storage, f"{path}/{name}")
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            info.status = "unreadable"
            info.reason = f"{name}: {type(exc).__name__}"
            return info
        if isinstance(data, dict):
            apply(info, data)
            return info
        info.status, info.reason = "unreadable", f"{name} is not a JSON object"
        return info
    return info


def snapshot_paths(location: OutputLocation, export: str) -> list[str]:
    """The export's snapshot directories, oldest first."""
    return [s.path for s in scan_export(Storage(location), location.join(export))]


def read_latest_pointer(location: OutputLocation, export: str) -> Any:
    try:
        return read_json(Storage(location), location.join(export, LATEST_NAME))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return {"unreadable": f"{LATEST_NAME}: {type(exc).__name__}"}


def list_export(location: OutputLocation, export: str) -> ExportListing:
    snapshots = [read_snapshot(location, path) for path in snapshot_paths(location, export)]
    return ExportListing(
        export,
        location.display(location.join(export)),
        snapshots,
        read_latest_pointer(location, export),
    )


def export_names(location: OutputLocation) -> list[str]:
    """Directories of ``location`` that hold at least one snapshot, sorted."""
    selector = pafs.FileSelector(location.root, allow_not_found=True, recursive=False)
    names = []
    for entry in location.filesystem.get_file_info(selector):
        if entry.type == pafs.FileType.Directory and snapshot_paths(location, entry.base_name):
            names.append(entry.base_name)
    return sorted(names)


def list_location(
    location: OutputLocation, exports: list[str] | None = None
) -> list[ExportListing]:
    """Every export of ``location`` (or the named ones, even without snapshots yet)."""
    names = exports if exports is not None else export_names(location)
    return [list_export(location, name) for name in names]
