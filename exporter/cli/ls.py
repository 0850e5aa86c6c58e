"""``operate-export ls PATH|SPEC``: what an output location holds, per export.

PATH is an output location (a directory or a URI such as ``file:///...``); SPEC a job spec
file (``.yaml``/``.yml``/``.json``), whose ``output.path`` and export names are listed (an
export with no snapshot yet shows as such). The spec is read as ``validate --offline`` reads it:
unset ``${VAR}`` references elsewhere (credentials) do not matter, but the output path must
resolve. ``--json`` prints one JSON object for scripts.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import click
import orjson

from exporter.errors import EXIT_INVALID, ExporterError, redact_secrets
from exporter.pipeline.lock import is_held, read_holder
from exporter.pipeline.progress import format_size
from exporter.sinks.catalog import ExportListing, SnapshotInfo, list_location
from exporter.sinks.fs import OutputLocation, location_of, resolve_output

SPEC_EXTENSIONS = (".yaml", ".yml", ".json")


def _target(target: str) -> tuple[OutputLocation, list[str] | None]:
    """The location to list and, for a spec, its export names."""
    if target.endswith(SPEC_EXTENSIONS) and os.path.isfile(target):
        from exporter.api.validation import check_offline

        checked = check_offline(target)
        unset = [p.name for p in checked.placeholders if p.path.startswith("output")]
        if checked.spec is None or unset:
            names = ", ".join(unset or [p.name for p in checked.placeholders])
            raise click.UsageError(
                f"{target}: the output path depends on unset variables ({names}); "
                "set them or list the path itself"
            )
        exports = [e.name for e in checked.spec.exports]
        return location_of(checked.spec.output), exports
    return resolve_output(target), None


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _lock_state(location: OutputLocation, export: str) -> dict[str, Any] | None:
    if not is_held(location, export):
        return None
    holder = read_holder(location, export)
    return {"held": True, **(holder.__dict__ if holder else {})}


def _snapshot_line(snapshot: SnapshotInfo, now: dt.datetime) -> str:
    records = "-" if snapshot.records is None else f"{snapshot.records:,}"
    size = "-" if snapshot.bytes is None else format_size(snapshot.bytes)
    line = (
        f"  {snapshot.name:<30} {snapshot.status:<12} {records:>12} records {size:>10}  "
        f"{_age(snapshot.age_seconds(now))}"
    )
    if snapshot.windows is not None:
        line += f"  windows {orjson.dumps(snapshot.windows).decode()}"
    if snapshot.reason and not snapshot.complete:
        line += f"  ({snapshot.reason})"
    return line


def _text(listing: ExportListing, lock: dict[str, Any] | None, now: dt.datetime) -> list[str]:
    complete = sum(1 for s in listing.snapshots if s.complete)
    head = (
        f"{listing.export}: {listing.location} ({len(listing.snapshots)} snapshots, "
        f"{complete} complete)"
    )
    lines = [head]
    if lock:
        lines.append(
            f"  running: host {lock.get('host')}, pid {lock.get('pid')}, "
            f"started {lock.get('started_at')}"
        )
    lines += [_snapshot_line(s, now) for s in listing.snapshots]
    if not listing.snapshots:
        lines.append("  no snapshots")
    if listing.watermark is not None:
        lines.append(f"  watermark: {orjson.dumps(listing.watermark).decode()}")
    if listing.latest_pointer is not None:
        lines.append(f"  latest: {orjson.dumps(listing.latest_pointer).decode()}")
    return lines


def _json(listing: ExportListing, lock: dict[str, Any] | None, now: dt.datetime) -> dict[str, Any]:
    latest = listing.latest_complete
    return {
        "export": listing.export,
        "location": listing.location,
        "lock": lock,
        "latest_complete": latest.name if latest else None,
        "latest_pointer": listing.latest_pointer,
        "watermark": listing.watermark,
        "snapshots": [s.to_dict(now) for s in listing.snapshots],
    }


@click.command(name="ls")
@click.argument("target", metavar="PATH|SPEC")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout, for scripts.")
def ls(target: str, as_json: bool) -> None:
    """List the exports and snapshots of an output location (or of a job spec's output).

    Per export: every snapshot (complete, in progress, failed, interrupted) with its age,
    records, bytes and windows, the latest pointer and the watermark when the manifests have
    them, and the run holding the export's lock, if one is running. Reads files only: no
    network, no credentials needed.

    \b
    Example:
      operate-export ls ./exports
      operate-export ls configs/demo.yaml --json | jq '.exports[].latest_complete'
    """
    try:
        location, names = _target(target)
        listings = list_location(location, names)
    except ExporterError as exc:
        click.echo(redact_secrets(f"error: {exc}"), err=True)
        click.get_current_context().exit(exc.exit_code)
        return
    except OSError as exc:
        click.echo(f"error: cannot list {target}: {exc}", err=True)
        click.get_current_context().exit(EXIT_INVALID)
        return
    now = dt.datetime.now(dt.UTC)
    locks = {listing.export: _lock_state(location, listing.export) for listing in listings}
    if as_json:
        payload = {
            "location": location.display_root,
            "exports": [_json(listing, locks[listing.export], now) for listing in listings],
        }
        click.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    if not listings:
        click.echo(f"{location.display_root}: no exports")
    for listing in listings:
        click.echo("\n".join(_text(listing, locks[listing.export], now)))
