"""The body of ``operate-export run`` (and of the demo): load, run, print, pick the exit code.

Kept out of ``cli.py`` so that the click shell stays thin and ``exporter.demo`` goes through
exactly the same code path. Output conventions: progress and logs on stderr, the summary on
stdout (text table, or one JSON object with ``--log-format json``), errors always on stderr.
"""

from __future__ import annotations

import logging
import sys
from typing import IO

import click
import orjson

from exporter.errors import (
    EXIT_EXPORT_FAILED,
    EXIT_OK,
    ExporterError,
    RedactingStream,
    redact_secrets,
)
from exporter.progress import choose_reporter, configure_logging, format_dry_run, format_summary
from exporter.runner import RunOptions, RunResult, run_job
from exporter.spec import load_spec


def _summary_json(result: RunResult) -> str:
    payload = {
        "event": "dry_run" if result.dry_run else "summary",
        "ok": result.ok,
        "seconds": round(result.seconds, 3),
        "exports": [r.to_dict() for r in result.exports],
    }
    return orjson.dumps(payload).decode()


def run_command(
    spec_path: str,
    *,
    dry_run: bool = False,
    resume: bool = False,
    quiet: bool = False,
    log_format: str = "text",
    only: tuple[str, ...] = (),
    stderr: IO[str] | None = None,
) -> int:
    """Run a spec file; returns the exit code. SpecError / UsageError propagate (exit 2)."""
    # Validation comes first: an invalid spec never causes a network request.
    spec = load_spec(spec_path)
    # Last line of defence: nothing reaches stderr with a registered secret in it.
    err = RedactingStream(stderr if stderr is not None else sys.stderr)
    handler = configure_logging(log_format=log_format, quiet=quiet, stream=err)
    try:
        reporter = choose_reporter(log_format=log_format, quiet=quiet or dry_run, stream=err)
        options = RunOptions(dry_run=dry_run, resume=resume, quiet=quiet, only=tuple(only))
        result = run_job(spec, options, reporter)
    finally:
        logging.getLogger("exporter").removeHandler(handler)

    if log_format == "json":
        click.echo(redact_secrets(_summary_json(result)))
    elif dry_run:
        click.echo(redact_secrets(format_dry_run(result)))
    elif not quiet:
        click.echo(redact_secrets(format_summary(result)))
    if result.ok:
        return EXIT_OK
    for failed in result.failed:
        click.echo(
            redact_secrets(f"error: export {failed.name!r} failed: {failed.error}"), err=True
        )
    return EXIT_EXPORT_FAILED


def run_or_exit(spec_path: str, **kwargs: object) -> int:
    """Like ``run_command`` but maps ExporterError to its message and exit code."""
    try:
        return run_command(spec_path, **kwargs)  # type: ignore[arg-type]
    except ExporterError as exc:
        click.echo(redact_secrets(f"error: {exc}"), err=True)
        return exc.exit_code
