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

from collections.abc import Mapping
from typing import Any

from exporter.sinks.layout import SnapshotDir
from exporter.sinks.manifests import manifest_summaries
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


def family_manifests(
    spec: JobSpec,
    export: ExportSpec,
    listings: Mapping[str, list[SnapshotDir]] | None = None,
    *,
    save: bool = False,
) -> list[dict[str, Any]]:
    """The ``manifest_summaries`` of ``export``'s complete snapshots, keeping only those
    committed with all of their children when the spec gives it dependent exports
    (``listings``: export folders the caller has listed; ``save``: update their caches)."""

    def summaries(name: str) -> list[dict[str, Any]]:
        listing = None if listings is None else listings.get(name)
        return manifest_summaries(spec.output, name, listing, save=save)

    manifests = summaries(export.name)
    children = dependents_of(spec, export.name)
    if not children:
        return manifests
    found = {child.name: summaries(child.name) for child in children}
    return committed_families(manifests, export.name, found)
