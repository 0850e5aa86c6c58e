"""Which snapshots of a parent export count as committed when it has dependent exports
(issue 16): a parent snapshot whose every child committed a snapshot naming it.

The pair is committed children first (each manifest names the parent snapshot), then the parent
(its manifest lists the children). A crash between the two leaves child manifests naming a parent
snapshot without manifest: orphans nothing reads, since the parent's window was not committed and
the next run exports it again. A parent snapshot whose child manifest is missing (the child was
added to the spec later, its folder was removed) is not counted either: its window is exported
again, as a pair.
"""

from __future__ import annotations

from typing import Any

from exporter.sinks.manifests import complete_manifests
from exporter.spec import ExportSpec, JobSpec


def dependents_of(spec: JobSpec, name: str) -> tuple[ExportSpec, ...]:
    """The exports of ``spec`` whose parent is ``name``."""
    return tuple(e for e in spec.exports if e.parent is not None and e.parent.export == name)


def parent_snapshots(manifests: list[dict[str, Any]], parent: str) -> set[str]:
    """The parent snapshots (directory names) that child ``manifests`` name."""
    named = set()
    for manifest in manifests:
        link = manifest.get("parent")
        if isinstance(link, dict) and link.get("export") == parent:
            snapshot = link.get("snapshot")
            if isinstance(snapshot, str):
                named.add(snapshot)
    return named


def committed_families(
    manifests: list[dict[str, Any]], parent: str, children: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """``manifests`` (of ``parent``) whose snapshot every child's manifests name."""
    linked = [parent_snapshots(found, parent) for found in children.values()]
    return [m for m in manifests if all(m.get("snapshot") in named for named in linked)]


def family_manifests(spec: JobSpec, export: ExportSpec) -> list[dict[str, Any]]:
    """``complete_manifests`` of ``export``, keeping only the snapshots committed with all of
    their children when the spec gives it dependent exports."""
    manifests = complete_manifests(spec.output, export.name)
    children = dependents_of(spec, export.name)
    if not children:
        return manifests
    found = {child.name: complete_manifests(spec.output, child.name) for child in children}
    return committed_families(manifests, export.name, found)
