"""Reading back the complete snapshots of an export folder: their manifests are the incremental
watermark's only source of truth (issue 15). A snapshot without ``_manifest.json`` is invisible
here, so a window that was never committed is exported again by the next run.
"""

from __future__ import annotations

from typing import Any

from exporter.sinks.fs import location_of
from exporter.sinks.layout import complete_manifests_in
from exporter.sinks.storage import Storage
from exporter.spec import OutputSpec


def complete_manifests(output: OutputSpec, export_name: str) -> list[dict[str, Any]]:
    """The manifests of ``export_name``'s complete snapshots, oldest first (an unreadable one is
    skipped: it cannot vouch for its window)."""
    location = location_of(output)
    return complete_manifests_in(Storage(location), location.join(export_name))


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
