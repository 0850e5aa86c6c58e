"""``--metrics-file``: the run's outcome in the Prometheus text format, for alerting.

The node_exporter textfile collector convention: the file (name it ``*.prom``) is replaced
atomically (``prometheus_client.write_to_textfile`` writes a temp file beside it and renames
it), so the collector never reads half a file. Built with prometheus-client's registry and
writer, never formatted by hand.

Per export (labels ``spec`` and ``export``): records, bytes, seconds, retries, requests, success
(0/1), last success time, and the watermark of incremental exports when a manifest records one.
Per run (label ``spec``): duration, exit code and when it finished. The last success time is
carried over for a failed export (from the previous metrics file, else from the newest complete
manifest), and so are the series of exports this run did not run (``--only``, an invalid spec),
so ``time() - operate_export_last_success_timestamp_seconds > 86400`` keeps alerting correctly.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

from exporter.pipeline.incremental import export_state
from exporter.pipeline.results import ExportResult, RunResult
from exporter.sinks.catalog import list_export
from exporter.sinks.families import family_manifests
from exporter.sinks.fs import location_of
from exporter.spec import JobSpec

PREFIX = "operate_export"
LAST_SUCCESS = f"{PREFIX}_last_success_timestamp_seconds"
WATERMARK = f"{PREFIX}_watermark_timestamp_seconds"

log = logging.getLogger(__name__)

# (metric suffix, help, value of an ExportResult)
_EXPORT_GAUGES: tuple[tuple[str, str, Any], ...] = (
    ("records", "Records written by the export in the last run.", lambda r: r.records),
    ("bytes", "Bytes of the files of the export's last snapshot.", lambda r: r.bytes),
    ("duration_seconds", "Wall time of the export in the last run.", lambda r: r.seconds),
    ("retries", "Retried requests of the export in the last run.", lambda r: r.retries),
    ("requests", "HTTP requests of the export in the last run.", lambda r: r.requests),
    ("success", "1 if the export's last run succeeded, else 0.", lambda r: int(r.ok)),
)


def previous_last_success(path: str) -> dict[tuple[str, str], float]:
    """``(spec, export) -> last success time`` from an earlier metrics file (none: empty)."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read(16 * 1024 * 1024)
    except OSError:
        return {}
    found: dict[tuple[str, str], float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == LAST_SUCCESS:
                    key = (sample.labels.get("spec", ""), sample.labels.get("export", ""))
                    found[key] = float(sample.value)
    except ValueError as exc:  # a damaged file must not stop the new one from being written
        log.warning("metrics file %s: the previous content is not readable (%s)", path, exc)
    return found


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _from_manifests(spec: JobSpec, export: str) -> tuple[float | None, float | None]:
    """The newest complete manifest's finish time and, for an incremental export, its
    watermark computed as `operate-export state` computes it (from the spec's start, so a
    failed first window holds the watermark back)."""
    try:
        listing = list_export(location_of(spec.output), export)
        watermark = _incremental_watermark(spec, export)
    except Exception as exc:  # metrics are best effort: never fail a run over them
        log.warning("metrics: cannot list %r (%s: %s)", export, type(exc).__name__, exc)
        return None, None
    latest = listing.latest_complete
    return (_epoch(latest.finished_at) if latest else None), watermark


def _incremental_watermark(spec: JobSpec, name: str) -> float | None:
    export = next((e for e in spec.exports if e.name == name), None)
    if export is None or export.incremental is None:
        return None
    manifests = family_manifests(spec, export)
    state = export_state(spec, export, int(time.time() * 1000), manifests)
    return state.watermark / 1000


def build_registry(
    *,
    spec_name: str,
    spec: JobSpec | None,
    result: RunResult | None,
    exit_code: int,
    seconds: float,
    previous: dict[tuple[str, str], float],
    now: float | None = None,
) -> CollectorRegistry:
    """The run's metrics; ``spec``/``result`` are None when the run stopped before them."""
    now = time.time() if now is None else now
    registry = CollectorRegistry()
    labels = ("spec", "export")
    gauges = {
        suffix: Gauge(f"{PREFIX}_{suffix}", text, labels, registry=registry)
        for suffix, text, _ in _EXPORT_GAUGES
    }
    last_success = Gauge(
        LAST_SUCCESS, "Unix time of the export's last successful run.", labels, registry=registry
    )
    watermark = Gauge(
        WATERMARK,
        "Incremental exports: Unix time up to which the export is complete.",
        labels,
        registry=registry,
    )
    exports: Iterable[ExportResult] = result.exports if result and not result.dry_run else ()
    ran = set()
    for export in exports:
        ran.add(export.name)
        for suffix, _, value in _EXPORT_GAUGES:
            gauges[suffix].labels(spec_name, export.name).set(value(export))
        from_manifest, mark = _from_manifests(spec, export.name) if spec else (None, None)
        success = now if export.ok else previous.get((spec_name, export.name), from_manifest)
        if success is not None:
            last_success.labels(spec_name, export.name).set(success)
        if mark is not None:
            watermark.labels(spec_name, export.name).set(mark)
    for (spec_label, export_name), value in previous.items():
        if spec_label == spec_name and export_name not in ran:
            last_success.labels(spec_name, export_name).set(value)
    run_gauges = (
        ("run_duration_seconds", "Wall time of the last run.", seconds),
        ("run_exit_code", "Exit code of the last run (0 = success).", exit_code),
        ("run_timestamp_seconds", "Unix time the last run finished.", now),
    )
    for suffix, text, value in run_gauges:
        gauge = Gauge(f"{PREFIX}_{suffix}", text, ("spec",), registry=registry)
        gauge.labels(spec_name).set(value)
    return registry


def spec_label(spec_path: str) -> str:
    """The ``spec`` label: the spec file's name without directory and extension."""
    base = os.path.basename(spec_path)
    for extension in (".yaml", ".yml", ".json"):
        if base.endswith(extension):
            return base[: -len(extension)]
    return base


def write_metrics(
    path: str,
    *,
    spec_path: str,
    spec: JobSpec | None,
    result: RunResult | None,
    exit_code: int,
    seconds: float,
) -> None:
    """Replace ``path`` atomically with the run's metrics."""
    name = spec_label(spec_path)
    registry = build_registry(
        spec_name=name,
        spec=spec,
        result=result,
        exit_code=exit_code,
        seconds=seconds,
        previous=previous_last_success(path),
    )
    write_to_textfile(path, registry)
