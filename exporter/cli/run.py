"""The body of ``operate-export run`` (and of the demo): load, run, print, pick the exit code.

Kept out of ``cli/app.py`` so that the click shell stays thin and ``python -m exporter.demo``
goes through exactly the same code path. Output conventions: progress and logs on stderr, the
summary on stdout (text table, or one JSON object with ``--log-format json``), errors always on
stderr, each failed export's error exactly once: as an ``error:`` line (text), or inside the
``export_finished`` event (JSON; an ``export_failed`` event when that reporter is silent).

SIGINT / SIGTERM while the exports run stop them (``pipeline/interrupt.py``): the exit code is then
130 / 143 unless every export had already finished.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

import click
import orjson

from exporter.api.validation import load_spec
from exporter.errors import (
    EXIT_EXPORT_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    ExporterError,
    RedactingStream,
    redact_secrets,
)
from exporter.pipeline.interrupt import StopFlag, stop_on_signals
from exporter.pipeline.progress import (
    JsonReporter,
    Reporter,
    choose_reporter,
    configure_logging,
    format_dry_run,
    format_summary,
)
from exporter.pipeline.results import new_run_id
from exporter.pipeline.runner import ExportResult, RunOptions, RunResult, run_job
from exporter.spec import JobSpec


def _summary_json(result: RunResult) -> str:
    payload = {
        "event": "dry_run" if result.dry_run else "summary",
        "run_id": result.run_id,
        "ok": result.ok,
        "seconds": round(result.seconds, 3),
        "exports": [r.to_dict() for r in result.exports],
    }
    return orjson.dumps(payload).decode()


def _failure_line(failed: ExportResult) -> str:
    if failed.error_type == "Interrupted":
        return f"error: export {failed.name!r} stopped: {failed.error}"
    return f"error: export {failed.name!r} failed: {failed.error}"


def _report_failures(result: RunResult, reporter: Reporter, log_format: str) -> None:
    """Each failed export's error, once on stderr (the reporters show only its status)."""
    if isinstance(reporter, JsonReporter):
        return  # its export_finished event carries the error
    for failed in result.failed:
        if log_format == "json":
            event = {
                "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                "event": "export_failed",
                "run_id": result.run_id,
                "export": failed.name,
                "error": failed.error,
            }
            click.echo(redact_secrets(orjson.dumps(event).decode()), err=True)
        else:
            click.echo(redact_secrets(_failure_line(failed)), err=True)


@dataclass
class RunRecord:
    """What a run got to: its spec once loaded, its result once run (None before)."""

    spec: JobSpec | None = None
    result: RunResult | None = None


def _exit_code(result: RunResult, stop: StopFlag) -> int:
    if result.ok:
        return EXIT_OK  # a signal that came after every export had finished changes nothing
    if stop.exit_code is not None:
        return stop.exit_code
    return EXIT_EXPORT_FAILED


def run_command(
    spec_path: str,
    *,
    dry_run: bool = False,
    resume: bool | str = False,
    quiet: bool = False,
    log_format: str = "text",
    only: tuple[str, ...] = (),
    stderr: IO[str] | None = None,
    record: RunRecord | None = None,
    allow_api_switch: bool = False,
    range_from: str | None = None,
    range_to: str | None = None,
    shard: tuple[int, int] | None = None,
    run_id: str | None = None,
) -> int:
    """Run a spec file; returns the exit code. SpecError / UsageError propagate (exit 2).

    ``record``: filled with the spec and the result as they become known (for the metrics).
    """
    record = record if record is not None else RunRecord()
    # Validation comes first: an invalid spec never causes a network request.
    spec = record.spec = load_spec(spec_path)
    run_id = run_id or new_run_id()
    # Last line of defence: nothing reaches stderr with a registered secret in it.
    err = RedactingStream(stderr if stderr is not None else sys.stderr)
    handler = configure_logging(log_format=log_format, quiet=quiet, stream=err, run_id=run_id)
    try:
        reporter = choose_reporter(
            log_format=log_format, quiet=quiet or dry_run, stream=err, run_id=run_id
        )
        options = RunOptions(
            dry_run=dry_run,
            resume=resume,
            quiet=quiet,
            only=tuple(only),
            run_id=run_id,
            allow_api_switch=allow_api_switch,
            range_from=range_from,
            range_to=range_to,
            shard=shard,
        )
        with stop_on_signals(StopFlag()) as stop:
            result = record.result = run_job(spec, options, reporter, stop=stop)
    finally:
        logging.getLogger("exporter").removeHandler(handler)

    if log_format == "json":
        click.echo(redact_secrets(_summary_json(result)))
    elif dry_run:
        click.echo(redact_secrets(format_dry_run(result)))
    elif not quiet:
        click.echo(redact_secrets(format_summary(result)))
    _report_failures(result, reporter, log_format)
    return _exit_code(result, stop)


def run_or_exit(spec_path: str, metrics_file: str | None = None, **kwargs: object) -> int:
    """Like ``run_command`` but maps ExporterError to its message and exit code; with
    ``metrics_file``, writes the run's metrics (not when another run holds the lock: that run
    owns the file)."""
    return with_metrics(
        metrics_file,
        spec_path,
        lambda record: run_command(spec_path, record=record, **kwargs),  # type: ignore[arg-type]
    )


def with_metrics(metrics_file: str | None, spec_path: str, body: Callable[[RunRecord], int]) -> int:
    """Run ``body`` (``run`` or ``dump``), ExporterError mapped to its message and exit code,
    then write the metrics file when one is asked for (labelled after ``spec_path``)."""
    record = RunRecord()
    started = time.monotonic()
    try:
        code = body(record)
    except ExporterError as exc:
        click.echo(redact_secrets(f"error: {exc}"), err=True)
        code = exc.exit_code
    if metrics_file and code != EXIT_LOCKED:
        code = _write_metrics(metrics_file, spec_path, record, code, time.monotonic() - started)
    return code


def _write_metrics(path: str, spec_path: str, record: RunRecord, code: int, seconds: float) -> int:
    """Write the metrics file; a failure is an error (exit 1 if the run had succeeded): a run
    whose monitoring silently stopped would look healthy for ever."""
    from exporter.pipeline.metrics import write_metrics

    try:
        write_metrics(
            path,
            spec_path=spec_path,
            spec=record.spec,
            result=record.result,
            exit_code=code,
            seconds=seconds,
        )
    except OSError as exc:
        click.echo(redact_secrets(f"error: --metrics-file: cannot write {path}: {exc}"), err=True)
        return code or EXIT_EXPORT_FAILED
    return code
