"""The output layout, and the one reader of it (writer, resume, incremental planner, ls, metrics,
retention and ``exporter.latest_snapshot`` all list snapshots through here).

::

    <output.path>/<export>/
        _latest.json                      newest complete snapshot (written after its manifest)
        _manifests.cache.json             what planning reads of the manifests (manifests.py)
        .lock / _lease.json               run lock (local flock / object-store lease)
        snapshot=20261127T221500Z/        one run; ``-001``... for a second one in that second
            part-00000.parquet            committed parts (only once the snapshot commits)
            _part-00001.parquet           durable parts of a snapshot not committed yet
            _checkpoint.json  _INCOMPLETE  _commit.json  _manifest.json

Readers that discover files (Spark, pyarrow.dataset, DuckDB's hive discovery, a glob on
``part-*``) skip names starting with ``_`` or ``.``: uncommitted data is invisible to them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow.fs as pafs

from exporter.sinks.fs import OutputLocation, resolve_output
from exporter.sinks.storage import Storage

MANIFEST_NAME = "_manifest.json"
CHECKPOINT_NAME = "_checkpoint.json"
INCOMPLETE_NAME = "_INCOMPLETE"
# The manifest to be, written before the parts are renamed to their final names: a run that
# finds it (after a crash during a commit) finishes the renames and publishes it.
COMMIT_NAME = "_commit.json"
LATEST_NAME = "_latest.json"
SNAPSHOT_PREFIX = "snapshot="
UNCOMMITTED_PREFIX = "_"

_SNAPSHOT_RE = re.compile(r"^snapshot=(\d{8}T\d{6}Z)(?:-(\d{3,}))?$")
PART_RE = re.compile(r"^_?part-(\d{5,})\.(parquet|jsonl|jsonl\.gz)$")
# Windows of one export commit side by side: their pointer updates take turns.
_LATEST_LOCK = threading.Lock()
# Manifests and markers are small; a larger file is not one of ours and is not read whole.
MAX_METADATA_BYTES = 16 * 1024 * 1024


def snapshot_sort_key(name: str) -> tuple[str, int] | None:
    """Order of snapshot directory names (timestamp, same-second sequence); None if not one."""
    match = _SNAPSHOT_RE.match(name)
    if match is None:
        return None
    return match.group(1), int(match.group(2) or 0)


def uncommitted_name(name: str) -> str:
    """A part's name before its snapshot commits (``a=b/part-1.parquet`` -> ``a=b/_part-1...``)."""
    head, sep, base = name.rpartition("/")
    return f"{head}{sep}{UNCOMMITTED_PREFIX}{base}"


@dataclass
class SnapshotDir:
    """One ``snapshot=...`` folder and the files in it (paths relative to it)."""

    name: str
    path: str
    files: dict[str, int] = field(default_factory=dict)  # relative name -> size
    # relative name -> (size, mtime in ns) as listed, for files whose store reports both
    stamps: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def sort_key(self) -> tuple[str, int]:
        key = snapshot_sort_key(self.name)
        assert key is not None
        return key

    def has(self, name: str) -> bool:
        return name in self.files

    @property
    def complete(self) -> bool:
        return self.has(MANIFEST_NAME)


def scan_export(storage: Storage, export_dir: str) -> list[SnapshotDir]:
    """Every snapshot folder of an export, oldest first, with its files: one recursive listing
    (one paginated request on an object store instead of one per file)."""
    found: dict[str, SnapshotDir] = {}
    others: set[str] = set()  # top-level names that are not snapshot folders
    prefix = export_dir.rstrip("/") + "/"
    file_type = pafs.FileType.File
    # Each snapshot holds several entries: its name is matched once, not once per entry (the
    # listing grows with the export's history and the incremental planner reads it each run).
    for info in storage.listdir(export_dir, recursive=True):
        path = info.path
        relative = path[len(prefix) :] if path.startswith(prefix) else info.base_name
        top, _, rest = relative.partition("/")
        snapshot = found.get(top)
        if snapshot is None:
            if top in others or snapshot_sort_key(top) is None:
                others.add(top)
                continue
            snapshot = found[top] = SnapshotDir(top, prefix + top)
        if rest and info.type == file_type:
            size, mtime = info.size, info.mtime_ns
            snapshot.files[rest] = size or 0
            if size is not None and mtime is not None:
                snapshot.stamps[rest] = (size, mtime)
    return sorted(found.values(), key=lambda s: s.sort_key)


def read_json(storage: Storage, path: str) -> Any:
    """A small JSON file; FileNotFoundError if absent, ValueError if not JSON or too large."""
    info = storage.info(path)
    if info.type != pafs.FileType.File:
        raise FileNotFoundError(path)
    if info.size is not None and info.size > MAX_METADATA_BYTES:
        raise ValueError(f"{info.size} bytes")
    raw = storage.read(path)
    if raw is None:
        raise FileNotFoundError(path)
    return orjson.loads(raw)


def read_manifest(storage: Storage, snapshot_path: str) -> dict[str, Any] | None:
    """A snapshot's manifest, or None if it has none or it cannot be read."""
    try:
        data = read_json(storage, f"{snapshot_path}/{MANIFEST_NAME}")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def complete_manifests_in(storage: Storage, export_dir: str) -> list[dict[str, Any]]:
    """The manifests of an export's complete snapshots, oldest first (an unreadable one is
    skipped: it cannot vouch for its data)."""
    manifests = []
    for snapshot in scan_export(storage, export_dir):
        if snapshot.complete:
            manifest = read_manifest(storage, snapshot.path)
            if manifest is not None:
                manifests.append(manifest)
    return manifests


def newest_manifest(storage: Storage, export_dir: str) -> dict[str, Any] | None:
    """The manifest of the newest complete snapshot, or None."""
    for snapshot in reversed(scan_export(storage, export_dir)):
        if snapshot.complete:
            manifest = read_manifest(storage, snapshot.path)
            if manifest is not None:
                return manifest
    return None


# -- the latest pointer ---------------------------------------------------------------------
def latest_pointer(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The content of ``_latest.json`` for a committed snapshot's manifest (paths relative to
    the export folder)."""
    snapshot = str(manifest["snapshot"])
    return {
        "latest_version": 1,
        "export": manifest.get("export"),
        "snapshot": snapshot,
        "manifest": f"{snapshot}/{MANIFEST_NAME}",
        "files": [f"{snapshot}/{f['name']}" for f in manifest.get("files", [])],
        "records": manifest.get("records"),
        "format": manifest.get("format"),
        "finished_at": manifest.get("finished_at"),
        "run_id": manifest.get("run_id"),
    }


def update_latest(storage: Storage, export_dir: str, manifest: Mapping[str, Any]) -> None:
    """Point ``_latest.json`` at this snapshot unless it already names a newer one."""
    snapshot = str(manifest["snapshot"])
    with _LATEST_LOCK:
        try:
            current = read_json(storage, f"{export_dir}/{LATEST_NAME}")
        except (OSError, ValueError):
            current = None
        if isinstance(current, dict):
            named = snapshot_sort_key(str(current.get("snapshot", "")))
            ours = snapshot_sort_key(snapshot)
            if named is not None and ours is not None and named > ours:
                return
        data = orjson.dumps(latest_pointer(manifest), option=orjson.OPT_INDENT_2) + b"\n"
        # Whole (fsync'd before its rename), but the rename need not be durable at once: a crash
        # that loses it leaves the previous pointer, as a crash just before this call would.
        storage.write_atomic(export_dir, LATEST_NAME, data, sync_dir=False)


@dataclass(frozen=True)
class LatestSnapshot:
    """The newest complete snapshot of an export, as ``exporter.latest_snapshot`` returns it.

    ``paths`` are inside ``filesystem`` (give both to ``pyarrow.dataset.dataset``); ``uris``
    are the same files as the user would write them (``s3://bucket/...`` or local paths).
    """

    export: str
    snapshot: str
    location: str
    paths: list[str]
    uris: list[str]
    filesystem: pafs.FileSystem
    manifest: dict[str, Any]

    @property
    def records(self) -> int:
        return int(self.manifest.get("records", 0))


def latest_snapshot(
    path: str, export: str, storage_options: Mapping[str, Any] | None = None
) -> LatestSnapshot | None:
    """The newest complete snapshot of ``export`` under the output ``path`` (with the
    ``storage_options`` of the spec for an object store), from its ``_latest.json``; an output
    written before that pointer existed is searched for its newest manifest. None if the
    export has no complete snapshot."""
    location = resolve_output(path, storage_options)
    storage = Storage(location)
    export_dir = location.join(export)
    manifest = None
    try:
        pointer = read_json(storage, f"{export_dir}/{LATEST_NAME}")
    except (OSError, ValueError):
        pointer = None
    if isinstance(pointer, dict) and isinstance(pointer.get("snapshot"), str):
        manifest = read_manifest(storage, f"{export_dir}/{pointer['snapshot']}")
    if manifest is None:
        manifest = newest_manifest(storage, export_dir)
    if manifest is None:
        return None
    return snapshot_of(location, export, manifest)


def snapshot_of(location: OutputLocation, export: str, manifest: dict[str, Any]) -> LatestSnapshot:
    snapshot = str(manifest["snapshot"])
    directory = location.join(export, snapshot)
    paths = [f"{directory}/{f['name']}" for f in manifest.get("files", [])]
    return LatestSnapshot(
        export=export,
        snapshot=snapshot,
        location=location.display(directory),
        paths=paths,
        uris=[location.display(p) for p in paths],
        filesystem=location.filesystem,
        manifest=manifest,
    )
