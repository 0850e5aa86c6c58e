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

from exporter.errors import ExporterError, ExportFailed
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
    plans = tables_of(spec, exports)
    if not plans:  # (the table sink's modules only when there are tables)
        return []
    from exporter.sinks.table import TABLES_DIR

    return [f"{TABLES_DIR}/{plan.name}" for plan in plans]


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
        except Exception as exc:  # a bug must not lose the run's summary either
            if not isinstance(exc, ExporterError):
                log.debug("table %r failed", plan.name, exc_info=exc)
                exc = ExportFailed(f"internal error {type(exc).__name__}: {exc}")
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


def update_tables_locked(
    spec: JobSpec, exports: Iterable[ExportSpec], results: list[ExportResult], run_id: str
) -> None:
    """``update_tables`` under the tables' run locks, for a step that holds no run lock
    (``operate-export commit`` of a sharded run: RunLocked, exit 75, while a run writes them)."""
    from exporter.pipeline.lock import hold_locks

    exports = list(exports)
    names = lock_names(spec, exports)
    if not names:
        return
    with hold_locks(spec.output, names, run_id):
        update_tables(spec, exports, results, run_id)
    failed = [r.table["error"] for r in results if r.table and "error" in r.table]
    if failed:
        raise ExportFailed(f"tables not updated (the snapshots are committed): {failed[0]}")


def select_tables(spec: JobSpec, only: Iterable[str]) -> list[TablePlan]:
    """The spec's tables named in ``only`` (a table's name, or the name of an export feeding
    it); all of them when ``only`` is empty. UsageError without output.table or for an unknown
    name (the valid ones listed)."""
    from exporter.errors import UsageError

    if spec.output.table is None:
        raise UsageError("the spec has no output.table: it keeps no tables to rebuild")
    plans = tables_of(spec, spec.exports)
    wanted = set(only)
    if not wanted:
        return plans
    by_export = {e.name: e.table_name for e in spec.exports}
    names = {by_export.get(n, n) for n in wanted}
    unknown = sorted(n for n in wanted if n not in by_export and n not in {p.name for p in plans})
    if unknown:
        valid = ", ".join(p.name for p in plans)
        raise UsageError(f"--only: unknown table(s) {', '.join(unknown)}; the spec has: {valid}")
    return [p for p in plans if p.name in names]


def rebuild_tables(spec: JobSpec, only: Iterable[str], run_id: str) -> list[dict]:
    """``operate-export rebuild-table``: each selected table replaced, in one commit, by all
    complete snapshots of its exports, under the tables' run locks (RunLocked: exit 75)."""
    from exporter.pipeline.lock import hold_locks
    from exporter.sinks.table import TABLES_DIR

    plans = select_tables(spec, only)
    names = [f"{TABLES_DIR}/{p.name}" for p in plans]
    with hold_locks(spec.output, names, run_id):
        return [update_table(spec, plan, run_id, rebuild=True) for plan in plans]
