"""A parent export and its dependent exports as one unit of work (issue 16).

``attach_children`` turns each planned task of a parent (the export, or one window of it) into a
``FamilyTask``; ``run_family`` runs it: the parent's pipeline (``export.py``) with
``FamilyHooks`` that open the children's snapshots once the parent's is open (they name it),
hand every written parent page to them (``dependent.py``), and at the end commit them before
the parent. Any failure of either side aborts both: no manifest, so an incremental parent's
window stays uncommitted and the next run exports the pair again (``sinks/families.py`` makes
the planner count a window only when every child committed a snapshot naming it).
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exporter.errors import UsageError
from exporter.pipeline.export import ExportPipeline, PipelineHooks, RunContext
from exporter.pipeline.incremental import WindowTask
from exporter.pipeline.results import ExportResult
from exporter.sinks.families import dependents_of
from exporter.spec import ExportSpec, JobSpec

if TYPE_CHECKING:  # imported when a family runs (parents with dependent exports only)
    from exporter.pipeline.dependent import ChildExport


@dataclass(frozen=True)
class FamilyTask:
    """A parent's task (the export, or one window of it) and its dependent exports."""

    parent: ExportSpec | WindowTask
    children: tuple[ExportSpec, ...]


def check_selection(spec: JobSpec, selected: tuple[ExportSpec, ...]) -> None:
    """``--only``: a family runs whole (a child needs its parent's records of the run, and a
    parent's window counts only with its children)."""
    names = {e.name for e in selected}
    for export in selected:
        link = export.parent
        if link is not None and link.export not in names:
            raise UsageError(
                f"--only: export {export.name!r} depends on {link.export!r} (its parent); "
                "select them together"
            )
        missing = [c.name for c in dependents_of(spec, export.name) if c.name not in names]
        if missing:
            raise UsageError(
                f"--only: export {export.name!r} has dependent exports {', '.join(missing)}, "
                "which run with it; select them together"
            )


def without_children(exports: tuple[ExportSpec, ...]) -> tuple[ExportSpec, ...]:
    """The exports the planner plans (children are run by their parent's tasks)."""
    return tuple(e for e in exports if e.parent is None)


def attach_children(spec: JobSpec, tasks: list[Any]) -> list[Any]:
    """Each task of a parent as a ``FamilyTask``; a parent whose plan failed fails its
    children too."""
    attached: list[Any] = []
    for task in tasks:
        name = task.name if isinstance(task, ExportResult) else _export_of(task).name
        children = dependents_of(spec, name)
        if not children:
            attached.append(task)
        elif isinstance(task, ExportResult):
            failed = [
                ExportResult(c.name, c.endpoint, error=task.error, error_type=task.error_type)
                for c in children
            ]
            attached.append([task, *failed])
        else:
            attached.append(FamilyTask(task, children))
    return attached


def _export_of(task: ExportSpec | WindowTask) -> ExportSpec:
    return task.export if isinstance(task, WindowTask) else task


class FamilyHooks(PipelineHooks):
    """The parent pipeline's hooks that run its children alongside."""

    needs_items = True

    def __init__(self, children: list[ChildExport], window: dict[str, Any] | None) -> None:
        self.children, self.window = children, window

    def opened(self, writer: Any) -> None:
        for child in self.children:
            child.open(writer, self.window)

    def page_written(self, items: list[dict[str, Any]]) -> None:
        for child in self.children:
            child.offer(items)

    def before_commit(self) -> list[dict[str, Any]]:
        for child in self.children:
            child.finish()
        return [child.commit() for child in self.children]

    def failed(self, reason: str, interrupted: bool) -> None:
        for child in self.children:
            child.abort(reason, interrupted)


def run_family(run: RunContext, task: FamilyTask, search_pool: Executor) -> list[ExportResult]:
    """The parent's results first, then its children's."""
    from exporter.pipeline.dependent import ChildExport

    children = [ChildExport(run, child, search_pool) for child in task.children]
    parent = task.parent
    if isinstance(parent, WindowTask):
        hooks = FamilyHooks(children, parent.info)
        pipeline = ExportPipeline(run, parent.export, parent.info, hooks)
    else:
        hooks = FamilyHooks(children, None)
        pipeline = ExportPipeline(run, parent, None, hooks)
    result = pipeline.run()
    return [result, *(child.result for child in children)]
