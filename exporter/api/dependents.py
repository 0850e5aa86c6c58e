"""Spec checks of dependent exports (``exports[].parent``, issue 16): the parent exists and is
not itself dependent, no cycles, and the two fields link (asked of the dialect: the parent's
field exists, the child's is filterable, same kind). Called by ``validation.api_problems``."""

from __future__ import annotations

from typing import Any

from exporter.api import Dialect
from exporter.errors import SpecProblem
from exporter.spec.envsubst import join_path


def _named(exports: list[Any]) -> dict[str, tuple[int, dict[str, Any]]]:
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, export in enumerate(exports):
        if isinstance(export, dict) and isinstance(export.get("endpoint"), str):
            name = export.get("name", export["endpoint"])
            if isinstance(name, str):
                found.setdefault(name, (index, export))
    return found


def _cycle(name: str, parents: dict[str, str]) -> list[str] | None:
    """The cycle ``name`` is on (names in order, ``name`` first), or None."""
    path, node = [name], parents.get(name)
    while node is not None and node not in path:
        path.append(node)
        node = parents.get(node)
    return path if node == name else None


def parent_problems(exports: list[Any], dialect: Dialect) -> list[SpecProblem]:
    """Every problem of the ``parent`` keys of a spec's exports on ``dialect``'s API."""
    named = _named(exports)
    parents = {
        name: export["parent"]["export"]
        for name, (_, export) in named.items()
        if isinstance(export.get("parent"), dict)
        and isinstance(export["parent"].get("export"), str)
    }
    problems: list[SpecProblem] = []
    for name, (index, export) in named.items():
        link = export.get("parent")
        if not isinstance(link, dict):
            continue
        where = join_path(join_path("exports", index), "parent")
        problems += _link_problems(name, where, export, link, named, parents, dialect)
    return problems


def _link_problems(
    name: str,
    where: str,
    export: dict[str, Any],
    link: dict[str, Any],
    named: dict[str, tuple[int, dict[str, Any]]],
    parents: dict[str, str],
    dialect: Dialect,
) -> list[SpecProblem]:
    parent_name = link.get("export")
    if not isinstance(parent_name, str):
        return []  # the schema reports it
    at = join_path(where, "export")
    if parent_name not in named:
        return [
            SpecProblem(
                at,
                f"export {name!r} depends on {parent_name!r}, which is not an export of this "
                f"spec; exports are: {', '.join(sorted(named))}",
            )
        ]
    cycle = _cycle(name, parents)
    if cycle is not None:
        loop = " -> ".join([*cycle, name])
        return [SpecProblem(at, f"export {name!r} is on a cycle of parents: {loop}")]
    if parent_name in parents:
        return [
            SpecProblem(
                at,
                f"export {name!r} depends on {parent_name!r}, which depends on "
                f"{parents[parent_name]!r} itself; a parent must be an export without parent",
            )
        ]
    problems = []
    if named[parent_name][1].get("shards", 1) != 1:
        problems.append(
            SpecProblem(
                at,
                f"export {name!r} depends on {parent_name!r}, which has shards: a parent's "
                "records are read in one cursor chain with its children (remove its shards)",
            )
        )
    for key, why in (
        ("incremental", "the parent's records of the run select its records (its windows too)"),
        ("max_records", "it would cut the children of some parents and not others"),
    ):
        if key in export:
            problems.append(
                SpecProblem(
                    join_path(where[: -len(".parent")], key),
                    f"export {name!r} has a parent and cannot have {key}: {why}",
                )
            )
    filter_field = link.get("filter_field")
    filters = export.get("filter")
    if isinstance(filters, dict) and isinstance(filter_field, str) and filter_field in filters:
        problems.append(
            SpecProblem(
                join_path(join_path(where[: -len(".parent")], "filter"), filter_field),
                f"export {name!r} filters {filter_field!r}, which its parent's records select "
                "(remove the filter)",
            )
        )
    parent_endpoint = named[parent_name][1].get("endpoint")
    field = link.get("field")
    if isinstance(field, str) and isinstance(filter_field, str):
        problems += dialect.parent_link_problems(
            where, str(parent_endpoint), field, str(export["endpoint"]), filter_field
        )
    return problems
