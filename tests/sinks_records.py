"""Synthetic Operate records built from the endpoint registry, for the sink tests.

Every field kind gets a realistic value: keys beyond 2^53, both date offset styles, enums,
JSON text, evaluated inputs/outputs. Every fourth record omits its optional fields (Operate leaves
null fields out), so null handling is exercised on every column.
"""

from __future__ import annotations

from typing import Any

import orjson

from exporter.api.types import Endpoint, Kind
from exporter.sinks.arrow_schema import wanted
from exporter.spec import ExportSpec

BIG_KEY = 2**62 + 1  # far beyond 2^53: any float detour would corrupt it


def field_value(kind: Kind, name: str, i: int, enum: tuple[str, ...]) -> Any:
    if kind is Kind.KEY:
        return BIG_KEY + i * 7
    if kind is Kind.INT32:
        return i % 5 + 1
    if kind is Kind.STRING:
        return f"{name}-{i}-ünïcode"
    if kind is Kind.ENUM:
        return enum[i % len(enum)]
    if kind is Kind.DATE:
        offset = "+0000" if i % 2 else "+00:00"
        return f"2024-03-{i % 28 + 1:02d}T11:50:{i % 60:02d}.{i % 1000:03d}{offset}"
    if kind is Kind.BOOL:
        return i % 2 == 0
    if kind is Kind.JSON_TEXT:
        return orjson.dumps({"n": i, "s": "x" * (i % 3)}).decode()
    if kind is Kind.XML:
        return f'<?xml version="1.0"?><definitions id="d{i}"/>'
    if kind is Kind.EVALUATED_INPUTS:
        return [{"id": f"in{j}", "name": f"Input {j}", "value": f'"v{i}"'} for j in range(i % 3)]
    if kind is Kind.EVALUATED_OUTPUTS:
        return [
            {"id": "out", "name": "Out", "value": str(i), "ruleId": f"rule{i}", "ruleIndex": i % 4}
        ]
    raise AssertionError(f"unhandled kind {kind}")


def make_record(endpoint: Endpoint, export: ExportSpec, i: int) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for f in endpoint.fields:
        if not wanted(f, export):
            continue
        optional = f.name != endpoint.unique_key and f.name not in ("key", "id")
        if optional and i % 4 == 0:
            continue
        value = field_value(f.kind, f.name, i, f.enum)
        if f.name == "id" and endpoint.unique_key == "id":
            value = f"{BIG_KEY + i}-{i % 3}"
        record[f.name] = value
    return record


def make_pages(
    endpoint: Endpoint, export: ExportSpec, total: int, page_size: int
) -> list[list[dict[str, Any]]]:
    # Round-trip through orjson so the records have exactly the types the API client sees.
    records = orjson.loads(orjson.dumps([make_record(endpoint, export, i) for i in range(total)]))
    return [records[s : s + page_size] for s in range(0, total, page_size)]


def cursor_of(page: list[dict[str, Any]], endpoint: Endpoint) -> list[Any]:
    """A v1-like sortValues cursor: [epoch-ish number, unique key], exact JSON types."""
    last = page[-1][endpoint.unique_key]
    return [1_700_000_000_000 + len(page), last]
