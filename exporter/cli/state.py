"""``operate-export state SPEC``: each incremental export's watermark, read from the manifests
of its complete snapshots (the only state there is), without any request to the server."""

from __future__ import annotations

import time
from typing import Any

import click
import orjson

from exporter.spec import JobSpec
from exporter.spec.timespec import iso_ms


def export_states(spec: JobSpec, now_ms: int) -> list[dict[str, Any]]:
    """One entry per incremental export: watermark, last window, records, age, later windows."""
    from exporter.pipeline.incremental import export_state
    from exporter.sinks.families import family_manifests

    states = []
    for export in spec.exports:
        if export.incremental is None:
            continue
        state = export_state(spec, export, now_ms, family_manifests(spec, export))
        # Committed windows beyond the first gap: kept, the gap is retried by the next run.
        beyond = [w for w in state.committed if w[0] > state.watermark]
        states.append(
            {
                "export": export.name,
                "endpoint": export.endpoint,
                "field": export.incremental.field,
                "watermark": iso_ms(state.watermark),
                "last_window": None
                if state.last_window is None
                else [iso_ms(state.last_window[0]), iso_ms(state.last_window[1])],
                "snapshots": state.snapshots,
                "records": state.records,
                "age_seconds": max(0, (now_ms - state.watermark) // 1000),
                "committed_after_gap": [[iso_ms(a), iso_ms(b)] for a, b in beyond],
            }
        )
    return states


def _age(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d{hours:02d}h{rest // 60:02d}m" if days else f"{hours}h{rest // 60:02d}m"


def _text(states: list[dict[str, Any]]) -> str:
    if not states:
        return "no export of this spec is incremental"
    lines = []
    for s in states:
        last = (
            "none"
            if s["last_window"] is None
            else f"[{s['last_window'][0]}, {s['last_window'][1]})"
        )
        lines.append(
            f"{s['export']} ({s['endpoint']}, {s['field']}): watermark {s['watermark']} "
            f"(age {_age(s['age_seconds'])}), last window {last}, {s['snapshots']} snapshots, "
            f"{s['records']} records"
        )
        for a, b in s["committed_after_gap"]:
            lines.append(f"  committed after a gap (kept): [{a}, {b})")
    return "\n".join(lines)


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="A line per export, or one JSON array.",
)
def state(spec_path: str, fmt: str) -> None:
    """Show each incremental export's watermark, last window, records and age.

    Read from the manifests of the complete snapshots under output.path (no request to
    the server); a relative start (-30d) is taken from this machine's clock.

    \b
    Example:
      operate-export state job.yaml
      operate-export state job.yaml --format json
    """
    from exporter.api.validation import load_spec

    spec = load_spec(spec_path)
    states = export_states(spec, int(time.time() * 1000))
    if fmt == "json":
        click.echo(orjson.dumps(states).decode())
    else:
        click.echo(_text(states))
