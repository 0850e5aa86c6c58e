"""``operate-export rebuild-table SPEC [--only NAME]``: rebuild current-state tables (issue 20)
from the committed snapshots, their source of truth."""

from __future__ import annotations

import click
import orjson


@click.command("rebuild-table")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help="Rebuild only this table (its name, or an export feeding it); repeatable. Default: all.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="A line per table, or one JSON array.",
)
def rebuild_table(spec_path: str, only: tuple[str, ...], fmt: str) -> None:
    """Rebuild current-state tables (output.table) from the complete snapshots.

    Each table gets one new Delta version holding one row per key from every complete
    snapshot of the exports that feed it (the latest export wins), as the runs would have
    built it; older versions stay readable by time travel until vacuumed. No request is
    sent to the server. Takes the tables' run locks (exit 75 while a run writes them).

    \b
    Example:
      operate-export rebuild-table job.yaml --only process-instances
    """
    from exporter.api.validation import load_spec
    from exporter.pipeline.results import new_run_id
    from exporter.pipeline.tables import rebuild_tables

    spec = load_spec(spec_path)
    done = rebuild_tables(spec, only, new_run_id())
    if fmt == "json":
        click.echo(orjson.dumps(done).decode())
        return
    for table in done:
        click.echo(
            f"table {table['table']}: version {table['version']}, {table['rows_in']} rows from "
            f"{table['snapshots']} snapshot(s) -> {table['location']}"
        )
