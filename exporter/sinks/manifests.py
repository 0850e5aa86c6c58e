"""Reading back the complete snapshots of an export folder: their manifests are the incremental
watermark's only source of truth (issue 15). A snapshot without ``_manifest.json`` is invisible
here, so a window that was never committed is exported again by the next run.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow.fs as pafs

from exporter.sinks.fs import resolve_output
from exporter.sinks.snapshot import MANIFEST_NAME, _Storage, snapshot_sort_key
from exporter.spec import OutputSpec


def complete_manifests(output: OutputSpec, export_name: str) -> list[dict[str, Any]]:
    """The manifests of ``export_name``'s complete snapshots, oldest first (an unreadable one is
    skipped: it cannot vouch for its window)."""
    location = resolve_output(output.path)
    storage = _Storage(location)
    named = []
    for info in storage.listdir(location.join(export_name)):
        key = snapshot_sort_key(info.base_name)
        if key is not None and info.type == pafs.FileType.Directory:
            named.append((key, info.path))
    manifests = []
    for _, path in sorted(named):
        raw = storage.read(f"{path}/{MANIFEST_NAME}")
        if not raw:
            continue
        try:
            manifest = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(manifest, dict):
            manifests.append(manifest)
    return manifests


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
