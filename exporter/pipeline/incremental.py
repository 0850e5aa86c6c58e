"""Incremental exports (issue 15): the run's clock, the watermark read back from manifests, and
the plan of ``[from, to)`` windows, each exported as its own snapshot.

* **Clock.** One per run: the ``Date`` header of the server's first answer (the local clock only
  when the server sends none), so a client whose clock runs ahead never moves a watermark past
  data the server has not shown yet. Each export's cutoff is that clock minus its ``lag``.
* **Watermark.** Each committed snapshot's manifest records the window it holds; the watermark
  is the end of the first contiguous interval of committed windows (Airbyte's concurrent
  cursor), starting at or before ``start``. A window whose snapshot has no manifest does not
  count, so a crash at any instant means the next run exports that window again.
* **Plan.** The uncovered parts of ``[watermark, cutoff)`` are split by the dialect into windows
  (v2: ``window``-sized ``$gte/$lt`` chunks; v1: date-math buckets); committed windows after a
  gap stay and are not exported again. ``run --from/--to`` plans ``range`` windows that
  re-export a range without counting towards the watermark.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any

from exporter.api import get_dialect, get_endpoint, make_paginator
from exporter.errors import UsageError
from exporter.sinks.manifests import merge_intervals
from exporter.spec import ExportSpec, JobSpec
from exporter.spec.timespec import iso_ms, parse_instant

log = logging.getLogger(__name__)

INCREMENTAL, RANGE = "incremental", "range"


@dataclass(frozen=True)
class RunClock:
    """The run's two clocks (epoch ms): the server's ``Date`` (None when it sent none) and ours."""

    server_ms: int | None
    local_ms: int

    @property
    def now_ms(self) -> int:
        return self.server_ms if self.server_ms is not None else self.local_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": None if self.server_ms is None else iso_ms(self.server_ms),
            "local": iso_ms(self.local_ms),
            "used": "server" if self.server_ms is not None else "local",
        }


@dataclass(frozen=True)
class WindowTask:
    """One window of one export: the export with the window in its filter, and what its
    manifest records."""

    export: ExportSpec
    start: int
    end: int
    info: dict[str, Any]

    @property
    def label(self) -> str:
        return f"[{iso_ms(self.start)}, {iso_ms(self.end)})"


def parse_http_date(value: str | None) -> int | None:
    """Epoch ms of an RFC 7231 ``Date`` header, None when absent or unreadable."""
    if not value:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp() * 1000)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def read_clock(client: Any, spec: JobSpec, export: ExportSpec) -> RunClock:
    """The run's clock; asks the server for one record of ``export`` when no answer has come yet
    (authentication may have gone to another host, or not happened at all)."""
    local_ms = int(time.time() * 1000)
    if getattr(client, "server_date", None) is None:
        endpoint = get_endpoint(export.endpoint, spec.source.api)
        dialect = get_dialect(spec.source.api)
        body = dialect.one_record_request(make_paginator(endpoint, export).first_request())
        client.post_json(endpoint.search_path, body)
    return RunClock(parse_http_date(getattr(client, "server_date", None)), local_ms)


def committed_windows(manifests: list[dict[str, Any]], field: str) -> list[tuple[int, int]]:
    """The windows complete snapshots hold for ``field`` (range re-exports do not count)."""
    windows = []
    for manifest in manifests:
        info = manifest.get("incremental")
        if not isinstance(info, dict) or info.get("mode") != INCREMENTAL:
            continue
        if info.get("field") != field:
            continue
        start, end = info.get("from_ms"), info.get("to_ms")
        if isinstance(start, int) and isinstance(end, int) and start < end:
            windows.append((start, end))
    return windows


def watermark(merged: list[tuple[int, int]], origin: int) -> int:
    """Where the next run starts: the end of the first contiguous committed interval when it
    reaches back to ``origin`` (the spec's start), else ``origin``."""
    if merged and merged[0][0] <= origin:
        return max(origin, merged[0][1])
    return origin


def gaps(start: int, end: int, merged: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` no committed interval covers."""
    found, cursor = [], start
    for lo, hi in merged:
        if hi <= cursor or lo >= end:
            continue
        if lo > cursor:
            found.append((cursor, lo))
        cursor = max(cursor, hi)
    if cursor < end:
        found.append((cursor, end))
    return found


@dataclass(frozen=True)
class ExportState:
    """What the manifests say about one incremental export."""

    committed: list[tuple[int, int]]  # merged
    watermark: int
    last_window: tuple[int, int] | None
    records: int
    snapshots: int


def export_state(
    spec: JobSpec, export: ExportSpec, now_ms: int, manifests: list[dict[str, Any]]
) -> ExportState:
    assert export.incremental is not None
    field = export.incremental.field
    windows = committed_windows(manifests, field)
    origin = parse_instant(export.incremental.start, now_ms)
    counted = [
        m
        for m in manifests
        if isinstance(m.get("incremental"), dict) and m["incremental"].get("mode") == INCREMENTAL
    ]
    return ExportState(
        committed=merge_intervals(windows),
        watermark=watermark(merge_intervals(windows), origin),
        last_window=max(windows, key=lambda w: w[1]) if windows else None,
        records=sum(int(m.get("records", 0)) for m in counted),
        snapshots=len(counted),
    )


def _retention_note(spec: JobSpec, start: int, clock: RunClock) -> str | None:
    bound = clock.now_ms - spec.retention * 1000
    if start >= bound:
        return None
    return (
        f"[{iso_ms(start)}, {iso_ms(bound)}) is older than the retention of {spec.retention} s "
        f"before the server's now ({iso_ms(clock.now_ms)}): the server may already have "
        "deleted records of that range"
    )


def plan_export(
    spec: JobSpec,
    export: ExportSpec,
    clock: RunClock,
    manifests: list[dict[str, Any]],
    *,
    range_from: int | None = None,
    range_to: int | None = None,
) -> list[WindowTask]:
    """The windows this run exports for ``export`` (empty when it is up to date)."""
    incremental = export.incremental
    assert incremental is not None
    dialect = get_dialect(spec.source.api)
    cutoff = clock.now_ms - incremental.lag * 1000
    if range_from is not None:
        mode, before = RANGE, None
        spans = [(range_from, cutoff if range_to is None else range_to)]
    else:
        state = export_state(spec, export, clock.now_ms, manifests)
        mode, before = INCREMENTAL, state.watermark
        spans = gaps(state.watermark, cutoff, state.committed)
    windows = [w for lo, hi in spans for w in dialect.plan_windows(lo, hi, incremental.window)]
    tasks = []
    for start, end in windows:
        note = _retention_note(spec, start, clock)
        info = {
            "mode": mode,
            "field": incremental.field,
            "from": iso_ms(start),
            "to": iso_ms(end),
            "from_ms": start,
            "to_ms": end,
            "lag_seconds": incremental.lag,
            "window_seconds": incremental.window,
            "cutoff": iso_ms(cutoff),
            "watermark_before": None if before is None else iso_ms(before),
            "clock": clock.to_dict(),
            "retention_warning": note,
        }
        windowed = {**export.filter, **dialect.window_filter(incremental.field, start, end)}
        tasks.append(WindowTask(replace(export, filter=windowed), start, end, info))
    first_note = next((t.info["retention_warning"] for t in tasks), None)
    if first_note:
        log.warning("export %r: %s", export.name, first_note)
    return tasks


def parse_range(text: str | None, now_ms: int, option: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_instant(text, now_ms)
    except ValueError as exc:
        raise UsageError(
            f"{option} {text!r}: not an RFC 3339 instant with an offset or -30d ({exc})"
        ) from None


def plan_run(
    spec: JobSpec,
    exports: tuple[ExportSpec, ...],
    client: Any,
    *,
    range_from: str | None = None,
    range_to: str | None = None,
) -> list[ExportSpec | WindowTask]:
    """The run's work: full exports as they are, incremental ones as their windows."""
    windowed = [e for e in exports if e.incremental is not None]
    full = [e.name for e in exports if e.incremental is None]
    if range_from is not None and (full or not windowed):
        raise UsageError(
            f"--from re-exports windows of incremental exports; {', '.join(full) or 'none'} "
            "has no incremental key (select the incremental exports with --only)"
        )
    if range_to is not None and range_from is None:
        raise UsageError("--to needs --from")
    if not windowed:
        return list(exports)
    from exporter.sinks.families import dependents_of, family_manifests
    from exporter.sinks.snapshot import finish_interrupted

    # The run holds the locks of these exports and of their dependent exports (a family is
    # selected whole), whose commits count for their parent's windows.
    family = {e.name: e for e in exports}
    family.update((c.name, c) for e in exports for c in dependents_of(spec, e.name))
    listings = {
        export.name: finish_interrupted(spec.output, export.name)
        for export in family.values()
        if export.incremental is not None or export.parent is not None
    }
    clock = read_clock(client, spec, windowed[0])
    start = parse_range(range_from, clock.now_ms, "--from")
    end = parse_range(range_to, clock.now_ms, "--to")
    if start is not None and end is not None and end <= start:
        raise UsageError(f"--to {range_to!r} is not after --from {range_from!r}")
    work: list[ExportSpec | WindowTask] = []
    for export in exports:
        if export.incremental is None:
            work.append(export)
            continue
        # A parent's windows count with its children's; the run updates the manifests cache.
        manifests = family_manifests(spec, export, listings, save=True)
        tasks = plan_export(spec, export, clock, manifests, range_from=start, range_to=end)
        if not tasks:
            log.info("export %r: up to date (no whole window before the cutoff)", export.name)
        work.extend(tasks)
    return work
