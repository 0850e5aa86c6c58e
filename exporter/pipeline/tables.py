"""The table stage of a run (issue 20): after every export's snapshots are committed, each
current-state table fed by the run's exports takes the snapshots it does not hold yet, in one
Delta commit (``sinks/table.py``), once per run per table however many windows ran.

A table is fed by every export of the spec that names it (``exports[].table.name``, default the
export's own name), including exports this run did not select: their complete snapshots belong
to the table too. A failed table update fails the results of the run's exports that feed it (the
snapshots stay committed; the next run takes them); other tables go on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from exporter.errors import ExporterError
from exporter.pipeline.results import ExportResult
from exporter.spec import ExportSpec, JobSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TablePlan:
    """One table and the exports of the spec that feed it."""

    name: str
    feeders: tuple[ExportSpec, ...]


def tables_of(spec: JobSpec, exports: Iterable[ExportSpec]) -> list[TablePlan]:
    """The tables the given exports feed (none without ``output.table``), sorted by name."""
    if spec.output.table is None:
        return []
    names = sorted({e.table_name for e in exports})
    return [
        TablePlan(name, tuple(e for e in spec.exports if e.table_name == name)) for name in names
    ]


def lock_names(spec: JobSpec, exports: Iterable[ExportSpec]) -> list[str]:
    """The run-lock names of the tables (``_tables/<name>``): one writer per table, also when
    two runs select different exports of one table."""
    from exporter.sinks.table import TABLES_DIR

    return [f"{TABLES_DIR}/{plan.name}" for plan in tables_of(spec, exports)]


def update_table(spec: JobSpec, plan: TablePlan, run_id: str = "", rebuild: bool = False) -> dict:
    """Bring one table up to date with its exports' complete snapshots (``rebuild``: replace
    its content with all of them); the commit's summary. Raises ``ExporterError``."""
    from exporter.sinks.manifests import complete_manifests
    from exporter.sinks.table import CurrentStateTable, snapshot_refs

    assert spec.output.table is not None
    table = CurrentStateTable(spec.output, plan.name, spec.output.table.mode)
    refs = []
    for export in plan.feeders:
        manifests = complete_manifests(spec.output, export.name)
        refs.extend(snapshot_refs(table.location, export.name, manifests))
    commit = table.rebuild(refs, run_id) if rebuild else table.update(refs, run_id)
    if commit.committed:
        log.info(
            "table %r: version %s (%s, %d rows from %d snapshot(s))",
            plan.name,
            commit.version,
            commit.mode,
            commit.rows_in,
            len(commit.snapshots),
        )
    return commit.to_dict()


def update_tables(
    spec: JobSpec, exports: Iterable[ExportSpec], results: list[ExportResult], run_id: str
) -> None:
    """The run's table stage: each table of ``exports`` updated; outcomes into ``results``."""
    for plan in tables_of(spec, exports):
        feeding = {e.name for e in plan.feeders}
        mine = [r for r in results if r.name in feeding]
        try:
            summary = update_table(spec, plan, run_id)
        except ExporterError as exc:
            message = (
                f"table {plan.name!r} not updated: {exc} (the snapshots are committed; the next "
                f"run adds them to the table)"
            )
            log.error("%s", message)
            for result in mine:
                result.table = {"table": plan.name, "error": str(exc)}
                if result.error is None:
                    result.error, result.error_type = message, type(exc).__name__
            continue
        for result in mine:
            result.table = summary
