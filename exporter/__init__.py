"""operate-export: Camunda 8 Operate data to Parquet or JSONL snapshots.

The package, layer by layer (each imports only the layers below it; ``make lint`` checks it):

    cli/        the click shell: run, validate, schema, dump, demo
    pipeline/   the job runner and the per-export stages fetch -> hydrate -> decode -> write,
                progress reporting, signals
    sinks/      Arrow schemas, Parquet / JSONL / stdout writers, snapshot publish + manifest
    transport/  HTTP session, auth, classify-then-retry, limits of one answer
    api/        one dialect per API version (v1/, v2/: registry, filters, paging, hydration),
                the neutral types, the shared paging checks, the auto probe, the spec checks
                that need a registry
    spec/       YAML -> ${ENV} -> JSON Schema + checks -> the frozen model
    errors.py   the exception tree and the secret registry
    simulator/  the bundled Operate simulator (tests, demo, trying specs)

The public Python API, for orchestrators that call the exporter from Python (Airflow, Dagster,
a notebook)::

    import exporter

    spec = exporter.load_spec("job.yaml")          # or a mapping with the same content
    result = exporter.run_job(spec, exporter.RunOptions(resume="auto"))
    if not result.ok:
        raise RuntimeError([e.error for e in result.failed])

Names are imported on first use, so ``import exporter`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from exporter.version import __version__

_PUBLIC = {
    "load_spec": "exporter.api.validation",
    "run_job": "exporter.pipeline.runner",
    "RunOptions": "exporter.pipeline.results",
    "RunResult": "exporter.pipeline.results",
    "ExportResult": "exporter.pipeline.results",
    "JobSpec": "exporter.spec",
    "ExporterError": "exporter.errors",
    "SpecError": "exporter.errors",
    "UsageError": "exporter.errors",
    "ExportFailed": "exporter.errors",
    "AuthError": "exporter.errors",
    "ApiError": "exporter.errors",
    "ProtocolError": "exporter.errors",
    "OutputError": "exporter.errors",
    "latest_snapshot": "exporter.sinks.layout",
    "LatestSnapshot": "exporter.sinks.layout",
}

__all__ = [
    "ApiError",
    "AuthError",
    "ExportFailed",
    "ExportResult",
    "ExporterError",
    "JobSpec",
    "LatestSnapshot",
    "OutputError",
    "ProtocolError",
    "RunOptions",
    "RunResult",
    "SpecError",
    "UsageError",
    "__version__",
    "latest_snapshot",
    "load_spec",
    "run_job",
]

if TYPE_CHECKING:
    from exporter.api.validation import load_spec
    from exporter.errors import (
        ApiError,
        AuthError,
        ExporterError,
        ExportFailed,
        OutputError,
        ProtocolError,
        SpecError,
        UsageError,
    )
    from exporter.pipeline.results import ExportResult, RunOptions, RunResult
    from exporter.pipeline.runner import run_job
    from exporter.sinks.layout import LatestSnapshot, latest_snapshot
    from exporter.spec import JobSpec


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'exporter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value
