"""Spec checks of the current-state tables (``output.table``, ``exports[].table``; issue 20).

What the JSON Schema cannot say: a table needs Parquet snapshots (its column types are theirs),
``exports[].table`` needs ``output.table``, and exports merged into one table must write the
same records (same endpoint, same optional columns), else one table would mix two schemas or
two keys.
"""

from __future__ import annotations

from typing import Any

from exporter.errors import SpecProblem
from exporter.spec.envsubst import join_path

# What must be equal for two exports to share a table (the key and the columns follow).
SHARED_FIELDS = ("endpoint", "include_xml", "include_evaluation_details")
_DEFAULTS: dict[str, Any] = {"include_xml": False, "include_evaluation_details": False}


def table_problems(document: Any) -> list[SpecProblem]:
    if not isinstance(document, dict):
        return []
    output = document.get("output")
    output = output if isinstance(output, dict) else {}
    exports = document.get("exports")
    exports = exports if isinstance(exports, list) else []
    problems: list[SpecProblem] = []
    table = output.get("table")
    if table is not None and output.get("format", "parquet") != "parquet":
        problems.append(
            SpecProblem(
                "output.table",
                f"needs output.format parquet (the table takes the snapshots' Parquet column "
                f"types), not {output.get('format')!r}",
            )
        )
    first_of: dict[str, int] = {}
    for index, export in enumerate(exports):
        if not isinstance(export, dict):
            continue
        where = join_path("exports", index)
        named = export.get("table")
        if named is not None and table is None:
            problems.append(
                SpecProblem(
                    join_path(where, "table"),
                    "names a table, but output.table is not set (add output.table: "
                    "{format: delta})",
                )
            )
            continue
        if table is None:
            continue
        name = _table_name(export)
        if not isinstance(name, str):
            continue
        if name not in first_of:
            first_of[name] = index
            continue
        other = exports[first_of[name]]
        differing = [f for f in SHARED_FIELDS if _value(export, f) != _value(other, f)]
        if differing:
            path = join_path(where, "table") if named is not None else join_path(where, "name")
            problems.append(
                SpecProblem(
                    path,
                    f"merges into table {name!r} like exports[{first_of[name]}], but its "
                    f"{', '.join(differing)} differ(s); exports sharing a table must have the "
                    f"same {', '.join(SHARED_FIELDS)}",
                )
            )
    return problems


def _table_name(export: dict[str, Any]) -> Any:
    named = export.get("table")
    if isinstance(named, dict):
        return named.get("name")
    return export.get("name", export.get("endpoint"))


def _value(export: dict[str, Any], field: str) -> Any:
    return export.get(field, _DEFAULTS.get(field))
