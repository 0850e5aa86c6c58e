"""output.table and exports[].table in the spec (issue 20): typed, defaulted, and every misuse
reported with its path."""

from __future__ import annotations

from typing import Any

import pytest

from exporter import load_spec
from exporter.api.validation import validate_document
from exporter.spec import TableSpec


def document(output: dict[str, Any], *exports: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "source": {"base_url": "http://localhost:8080", "api": "v2"},
        "exports": list(exports) or [{"endpoint": "process-instances"}],
        "output": {"path": "/tmp/x", **output},
    }


FINISHED = {
    "endpoint": "process-instances",
    "name": "pi-finished",
    "incremental": {"field": "endDate"},
    "table": {"name": "process-instances"},
}
OPEN = {
    "endpoint": "process-instances",
    "name": "pi-open",
    "filter": {"state": "ACTIVE"},
    "table": {"name": "process-instances"},
}


def test_a_table_spec_is_typed_with_its_defaults() -> None:
    spec = load_spec(document({"table": {"format": "delta"}}, FINISHED, OPEN, {"endpoint": "jobs"}))
    assert spec.output.table == TableSpec(format="delta", mode="merge")
    assert [e.table_name for e in spec.exports] == [
        "process-instances",
        "process-instances",
        "jobs",
    ]
    assert load_spec(document({})).output.table is None


@pytest.mark.parametrize(
    ("doc", "path", "message"),
    [
        pytest.param(
            document({"format": "jsonl", "table": {"format": "delta"}}),
            "output.table",
            "needs output.format parquet",
            id="jsonl",
        ),
        pytest.param(
            document({}, FINISHED),
            "exports[0].table",
            "output.table is not set",
            id="no-output-table",
        ),
        pytest.param(
            document(
                {"table": {"format": "delta"}},
                FINISHED,
                {**OPEN, "endpoint": "incidents", "filter": {}},
            ),
            "exports[1].table",
            "merges into table 'process-instances' like exports[0], but its endpoint differ",
            id="shared-other-endpoint",
        ),
        pytest.param(
            document(
                {"table": {"format": "delta"}},
                {"endpoint": "process-definitions", "name": "defs"},
                {
                    "endpoint": "process-definitions",
                    "name": "x",
                    "include_xml": True,
                    "table": {"name": "defs"},
                },
            ),
            "exports[1].table",
            "include_xml differ",
            id="shared-other-columns",
        ),
        pytest.param(
            document({"table": {"format": "iceberg"}}), "output.table.format", "delta", id="format"
        ),
        pytest.param(
            document({"table": {"format": "delta", "mode": "upsert"}}),
            "output.table.mode",
            "merge",
            id="mode",
        ),
        pytest.param(
            document({"table": {"mode": "merge"}}),
            "output.table.format",
            "is required",
            id="format-required",
        ),
        pytest.param(
            document({"table": {"format": "delta"}}, {**OPEN, "table": {"name": "../x"}}),
            "exports[0].table.name",
            "",
            id="name-unsafe",
        ),
    ],
)
def test_table_misuse_is_reported_with_its_path(
    doc: dict[str, Any], path: str, message: str
) -> None:
    problems = validate_document(doc)
    assert any(p.path == path and message in p.message for p in problems), problems
