"""Arrow schema per endpoint: every registry field mapped, hydrated fields only when asked."""

from __future__ import annotations

import pyarrow as pa
import pytest

from exporter.api.types import Kind
from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.api.v2.registry import V2Kind
from exporter.sinks import EXTRA_COLUMN, schema_for
from exporter.sinks.arrow_schema import KIND_TYPES, schema_to_json
from exporter.spec import ExportSpec

EXPECTED_TYPES = {
    Kind.KEY: pa.int64(),
    Kind.INT32: pa.int32(),
    Kind.BOOL: pa.bool_(),
    Kind.STRING: pa.string(),
    Kind.ENUM: pa.string(),
    Kind.JSON_TEXT: pa.string(),
    Kind.XML: pa.string(),
    Kind.DATE: pa.timestamp("ms", tz="UTC"),
    Kind.EVALUATED_INPUTS: pa.list_(
        pa.struct([("id", pa.string()), ("name", pa.string()), ("value", pa.string())])
    ),
    Kind.EVALUATED_OUTPUTS: pa.list_(
        pa.struct(
            [
                ("id", pa.string()),
                ("name", pa.string()),
                ("value", pa.string()),
                ("ruleId", pa.string()),
                ("ruleIndex", pa.int32()),
            ]
        )
    ),
}


def test_every_kind_has_a_type() -> None:
    # Every column kind of both APIs; v2's filter-only kinds never become columns.
    filter_only = {V2Kind.VARIABLE_FILTERS, V2Kind.OR_GROUPS}
    assert set(KIND_TYPES) == set(Kind) | (set(V2Kind) - filter_only)
    for kind, expected in EXPECTED_TYPES.items():
        assert KIND_TYPES[kind] == expected, kind


@pytest.mark.parametrize("name", sorted(V1_ENDPOINTS))
def test_schema_maps_every_registry_field(name: str) -> None:
    endpoint = V1_ENDPOINTS[name]
    export = ExportSpec(endpoint=name, name="x", include_xml=True, include_evaluation_details=True)
    schema = schema_for(endpoint, export)
    assert schema.names == [*endpoint.field_names, EXTRA_COLUMN]
    for f in endpoint.fields:
        assert schema.field(f.name).type == EXPECTED_TYPES[f.kind], f.name
        assert schema.field(f.name).nullable
    assert schema.field(EXTRA_COLUMN).type == pa.string()
    keys = [f.name for f in endpoint.fields if f.kind is Kind.KEY]
    assert keys and all(schema.field(k).type == pa.int64() for k in keys)


@pytest.mark.parametrize(
    ("endpoint", "flag", "hydrated"),
    [
        pytest.param("process-definitions", "include_xml", ["bpmnXml"], id="bpmn-xml"),
        pytest.param("decision-requirements", "include_xml", ["dmnXml"], id="dmn-xml"),
        pytest.param(
            "decision-instances",
            "include_evaluation_details",
            ["evaluatedInputs", "evaluatedOutputs"],
            id="evaluation-details",
        ),
    ],
)
def test_hydrated_columns_only_when_requested(
    endpoint: str, flag: str, hydrated: list[str]
) -> None:
    without = schema_for(V1_ENDPOINTS[endpoint], ExportSpec(endpoint=endpoint, name="x"))
    with_ = schema_for(
        V1_ENDPOINTS[endpoint], ExportSpec(endpoint=endpoint, name="x", **{flag: True})
    )
    assert not set(hydrated) & set(without.names)
    assert set(hydrated) <= set(with_.names)


def test_schema_json_is_plain_and_complete() -> None:
    export = ExportSpec(endpoint="decision-instances", name="x", include_evaluation_details=True)
    schema = schema_for(V1_ENDPOINTS["decision-instances"], export)
    described = schema_to_json(schema)
    assert [d["name"] for d in described] == schema.names
    by_name = {d["name"]: d for d in described}
    assert by_name["key"] == {"name": "key", "type": "int64", "nullable": True}
    assert by_name["evaluationDate"]["type"] == "timestamp[ms, tz=UTC]"
    assert "ruleIndex: int32" in by_name["evaluatedOutputs"]["type"]
