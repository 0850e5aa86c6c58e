"""Reading back the complete snapshots of an export folder: their manifests are the incremental
watermark's only source of truth (issue 15). A snapshot without ``_manifest.json`` is invisible
here, so a window that was never committed is exported again by the next run.

Planning an incremental run needs a few fields of every committed manifest (``summarise``),
and an hourly cron would otherwise read every manifest of the export's history again each hour.
``_manifests.cache.json`` in the export folder keeps those fields per snapshot, with the size
and modification time the listing showed for its manifest. It is only a cache: an entry counts
only while the listing still shows a manifest of that size and time in that snapshot (a
snapshot pruned, re-created or committed since is read from its manifest again), and a cache
that is missing, unreadable or of another version is rebuilt from the manifests. The listing
is read anyway (it is what says which snapshots are complete), so the cache saves reading the
manifests, never trusts more than they say.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from exporter.sinks.fs import location_of
from exporter.sinks.layout import (
    MANIFEST_NAME,
    SnapshotDir,
    complete_manifests_in,
    read_json,
    read_manifest,
    scan_export,
)
from exporter.sinks.storage import Storage
from exporter.spec import OutputSpec

CACHE_NAME = "_manifests.cache.json"
CACHE_VERSION = 1
log = logging.getLogger(__name__)


def complete_manifests(output: OutputSpec, export_name: str) -> list[dict[str, Any]]:
    """The manifests of ``export_name``'s complete snapshots, oldest first (an unreadable one is
    skipped: it cannot vouch for its window)."""
    location = location_of(output)
    return complete_manifests_in(Storage(location), location.join(export_name))


def summarise(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the incremental planner, ``state`` and the families read of a manifest: the
    snapshot, its records, its window and its parent snapshot."""
    summary: dict[str, Any] = {"snapshot": manifest.get("snapshot"), "records": 0}
    if isinstance(manifest.get("records"), int):
        summary["records"] = manifest["records"]
    window = manifest.get("incremental")
    if isinstance(window, dict):
        keys = ("mode", "field", "from_ms", "to_ms")
        summary["incremental"] = {k: window[k] for k in keys if k in window}
    parent = manifest.get("parent")
    if isinstance(parent, dict):
        summary["parent"] = {k: parent[k] for k in ("export", "snapshot") if k in parent}
    return summary


def manifest_summaries(
    output: OutputSpec,
    export_name: str,
    snapshots: list[SnapshotDir] | None = None,
    *,
    save: bool = False,
) -> list[dict[str, Any]]:
    """``summarise`` of every complete snapshot's manifest, oldest first, from the cache where
    the listing vouches for it (``snapshots``: the export's listing when the caller has one;
    ``save``: write the cache back when it changed, which the run does under its lock)."""
    location = location_of(output)
    storage = Storage(location)
    export_dir = location.join(export_name)
    if snapshots is None:
        snapshots = scan_export(storage, export_dir)
    cached = _read_cache(storage, export_dir)
    entries: dict[str, dict[str, Any]] = {}
    summaries, read = [], 0
    for snapshot in snapshots:
        if not snapshot.complete:
            continue
        stamp = snapshot.stamps.get(MANIFEST_NAME)
        entry = cached.get(snapshot.name)
        if stamp is not None and _valid(entry, stamp):
            assert entry is not None
            summary = entry["summary"]
        else:
            manifest = read_manifest(storage, snapshot.path)
            if manifest is None:
                continue  # unreadable: it cannot vouch for its window
            summary, read = summarise(manifest), read + 1
        if stamp is not None:
            entries[snapshot.name] = {"stamp": list(stamp), "summary": summary}
        summaries.append(summary)
    if save and (read or entries.keys() != cached.keys()):
        _write_cache(storage, export_dir, entries)
    return summaries


def _valid(entry: Any, stamp: tuple[int, int]) -> bool:
    return (
        isinstance(entry, dict)
        and entry.get("stamp") == list(stamp)
        and isinstance(entry.get("summary"), dict)
    )


def _read_cache(storage: Storage, export_dir: str) -> dict[str, Any]:
    try:
        data = read_json(storage, f"{export_dir}/{CACHE_NAME}")
    except (OSError, ValueError):
        return {}  # none yet, or torn by a crash (it is written without fsync): rebuilt
    if not isinstance(data, dict) or data.get("cache_version") != CACHE_VERSION:
        return {}
    snapshots = data.get("snapshots")
    return snapshots if isinstance(snapshots, dict) else {}


def _write_cache(storage: Storage, export_dir: str, entries: dict[str, Any]) -> None:
    """Best effort and without fsync: a cache lost or torn in a crash is rebuilt."""
    data = orjson.dumps({"cache_version": CACHE_VERSION, "snapshots": entries}) + b"\n"
    try:
        storage.write_atomic(export_dir, CACHE_NAME, data, sync=False)
    except OSError as exc:
        log.debug("could not write %s in %s: %s", CACHE_NAME, export_dir, exc)


def merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching ``[start, end)`` intervals joined, in order (the committed
    windows of an incremental export, for its watermark)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
