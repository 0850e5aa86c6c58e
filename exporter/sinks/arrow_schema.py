"""The explicit Arrow schema of each endpoint, decided before a Parquet file opens.

Built from the registry (``exporter.api``) so that adding a field there adds a column
here. Hydrated-only fields (XML, evaluated inputs/outputs) are columns only when the export asks
for them. The last column, ``_extra``, keeps what the schema does not know (fields a newer Operate
added, or nested keys inside evaluated inputs/outputs) as JSON object text, so nothing is dropped.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from exporter.api.types import Endpoint, Field, Kind, ShapeKind
from exporter.spec import ExportSpec

EXTRA_COLUMN = "_extra"

TIMESTAMP_TYPE = pa.timestamp("ms", tz="UTC")

EVALUATED_INPUT_TYPE = pa.struct(
    [("id", pa.string()), ("name", pa.string()), ("value", pa.string())]
)
EVALUATED_OUTPUT_TYPE = pa.struct(
    [
        ("id", pa.string()),
        ("name", pa.string()),
        ("value", pa.string()),
        ("ruleId", pa.string()),
        ("ruleIndex", pa.int32()),
    ]
)

# v2 (GET /v2/decision-instances/{key}): evaluatedInputs and matchedRules.
DECISION_INPUT_TYPE = pa.struct(
    [("inputId", pa.string()), ("inputName", pa.string()), ("inputValue", pa.string())]
)
MATCHED_OUTPUT_TYPE = pa.struct(
    [("outputId", pa.string()), ("outputName", pa.string()), ("outputValue", pa.string())]
)
MATCHED_RULE_TYPE = pa.struct(
    [
        ("ruleId", pa.string()),
        ("ruleIndex", pa.int32()),
        ("evaluatedOutputs", pa.list_(MATCHED_OUTPUT_TYPE)),
    ]
)

KIND_TYPES: dict[Kind | ShapeKind, pa.DataType] = {
    Kind.KEY: pa.int64(),
    Kind.INT32: pa.int32(),
    Kind.STRING: pa.string(),
    Kind.ENUM: pa.string(),
    Kind.DATE: TIMESTAMP_TYPE,
    Kind.BOOL: pa.bool_(),
    Kind.JSON_TEXT: pa.string(),
    Kind.EVALUATED_INPUTS: pa.list_(EVALUATED_INPUT_TYPE),
    Kind.EVALUATED_OUTPUTS: pa.list_(EVALUATED_OUTPUT_TYPE),
    Kind.XML: pa.string(),
    ShapeKind.STRING_LIST: pa.list_(pa.string()),
    ShapeKind.JSON_OBJECT: pa.string(),  # an object of strings, kept as JSON text
    ShapeKind.DECISION_INPUTS: pa.list_(DECISION_INPUT_TYPE),
    ShapeKind.MATCHED_RULES: pa.list_(MATCHED_RULE_TYPE),
}

EVALUATION_KINDS = (
    Kind.EVALUATED_INPUTS,
    Kind.EVALUATED_OUTPUTS,
    ShapeKind.DECISION_INPUTS,
    ShapeKind.MATCHED_RULES,
)


def arrow_type(kind: Kind | ShapeKind) -> pa.DataType:
    return KIND_TYPES[kind]


def wanted(field: Field, export: ExportSpec) -> bool:
    """Is this field a column of this export? Hydrated fields only when asked for."""
    if not field.hydrated:
        return True
    if field.kind is Kind.XML:
        return export.include_xml
    if field.kind in EVALUATION_KINDS:
        return export.include_evaluation_details
    return True


def columns(endpoint: Endpoint, export: ExportSpec) -> tuple[Field, ...]:
    """The registry fields that become typed columns, in registry order."""
    return tuple(f for f in endpoint.fields if wanted(f, export))


def schema_for(endpoint: Endpoint, export: ExportSpec) -> pa.Schema:
    """Registry columns (all nullable: Operate omits null fields) followed by ``_extra``."""
    fields = [
        pa.field(f.name, arrow_type(f.kind), nullable=True) for f in columns(endpoint, export)
    ]
    fields.append(pa.field(EXTRA_COLUMN, pa.string(), nullable=True))
    return pa.schema(fields)


def schema_to_json(schema: pa.Schema) -> list[dict[str, Any]]:
    """A JSON-able description of a schema, for the manifest (name, Arrow type text, nullable)."""
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]
