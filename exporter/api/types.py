"""Neutral types of the API layer: what a column is (``Kind``, ``ShapeKind``), a field, an
endpoint, and the Operate values both API versions share.

Sinks, hydration and the pipeline read these, never a dialect's subclasses: a dialect's
``Endpoint`` subclass adds what only that API needs (v2: filter operators, page limits, paths).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """How a field is typed on the wire and in Parquet."""

    KEY = "key"  # int64 JSON number (Zeebe key, may exceed 2^53)
    INT32 = "int32"  # versions, indexes
    STRING = "string"
    ENUM = "enum"  # string with known values (unknown values are still accepted in output)
    DATE = "date"  # Operate date string -> timestamp[ms, UTC]
    BOOL = "bool"
    JSON_TEXT = "json_text"  # a JSON document serialised as a string (variable values)
    EVALUATED_INPUTS = "evaluated_inputs"  # list<struct<id, name, value>>
    EVALUATED_OUTPUTS = "evaluated_outputs"  # list<struct<id, name, value, ruleId, ruleIndex>>
    XML = "xml"  # hydrated BPMN / DMN XML text


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    filterable: bool = True
    sortable: bool = True
    enum: tuple[str, ...] = ()
    # Only present when the exporter hydrates it (not part of search results).
    hydrated: bool = False
    description: str = ""


@dataclass(frozen=True)
class Endpoint:
    """One exportable resource of one API version."""

    name: str  # the spec's ``endpoint`` value, e.g. "process-instances"
    api: str  # "v1" or "v2"
    path: str  # collection path, e.g. "/v1/process-instances"; search = path + "/search"
    unique_key: str  # tie-breaker the server appends to every sort ("key" or "id")
    fields: tuple[Field, ...]
    # Extra filter-only names the server accepts (alias -> entity field).
    filter_aliases: dict[str, str] = field(default_factory=dict)
    # GET {path}/{id}/xml gives the definition XML (process definitions, DRDs).
    has_xml: bool = False

    @property
    def search_path(self) -> str:
        return f"{self.path}/search"

    def item_path(self, ident: int | str) -> str:
        return f"{self.path}/{ident}"

    def field(self, name: str) -> Field | None:
        return self._by_name.get(name)

    def filter_field(self, name: str) -> Field | None:
        """The field a filter key tests (through ``filter_aliases``), or None."""
        return self.field(self.filter_aliases.get(name, name))

    @property
    def _by_name(self) -> dict[str, Field]:
        cached = self.__dict__.get("_by_name_cache")
        if cached is None:
            cached = {f.name: f for f in self.fields}
            object.__setattr__(self, "_by_name_cache", cached)
        return cached

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def filter_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.filterable) + tuple(self.filter_aliases)

    @property
    def sort_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.sortable)

    def fields_of_kind(self, *kinds: Kind) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.kind in kinds)


class ShapeKind(StrEnum):
    """Shapes beyond the scalar kinds (so far only v2 has them; the Arrow mapping is in sinks/)."""

    STRING_LIST = "string_list"  # tags, candidateGroups, candidateUsers -> list<string>
    JSON_OBJECT = "json_object"  # customHeaders (object of strings) -> JSON text column
    # GET /v2/decision-instances/{id}: [{inputId, inputName, inputValue}]
    DECISION_INPUTS = "decision_inputs"
    # [{ruleId, ruleIndex, evaluatedOutputs: [{outputId, outputName, outputValue}]}]
    MATCHED_RULES = "matched_rules"
    # Filter-only: [{name, value: StringFilterProperty}] (process-instance / user-task variables)
    VARIABLE_FILTERS = "variable_filters"
    # Filter-only: ``$or`` alternatives (process instances)
    OR_GROUPS = "or_groups"


@dataclass(frozen=True)
class ConversionHints:
    """How an API's records reach the sinks (read by the decode stage and the converters)."""

    # Integer keys travel as JSON strings of digits (v2) rather than numbers (v1).
    keys_as_text: bool = False
    # Whole pages may be decoded by Arrow from their bytes (no Python parse of the items).
    arrow_decodes_pages: bool = False
    # Where a search page holds the cursor to continue after it (``rawpage.read_tail`` reads
    # the last step from the page's tail; the decode stage checks the whole path).
    cursor_path: tuple[str, ...] = ("sortValues",)


# A column's kind: a scalar ``Kind`` or a ``ShapeKind``.
ColumnKind = Kind | ShapeKind

# Operate values both APIs share (v2 keeps v1's flow node and incident types and adds a few;
# see api/v2/registry).
INCIDENT_TYPES = (
    "UNSPECIFIED",
    "UNKNOWN",
    "IO_MAPPING_ERROR",
    "JOB_NO_RETRIES",
    "EXECUTION_LISTENER_NO_RETRIES",
    "CONDITION_ERROR",
    "EXTRACT_VALUE_ERROR",
    "CALLED_ELEMENT_ERROR",
    "UNHANDLED_ERROR_EVENT",
    "MESSAGE_SIZE_EXCEEDED",
    "CALLED_DECISION_ERROR",
    "DECISION_EVALUATION_ERROR",
    "FORM_NOT_FOUND",
)
FLOW_NODE_TYPES = (
    "UNSPECIFIED",
    "PROCESS",
    "SUB_PROCESS",
    "EVENT_SUB_PROCESS",
    "START_EVENT",
    "INTERMEDIATE_CATCH_EVENT",
    "INTERMEDIATE_THROW_EVENT",
    "BOUNDARY_EVENT",
    "END_EVENT",
    "SERVICE_TASK",
    "RECEIVE_TASK",
    "USER_TASK",
    "MANUAL_TASK",
    "TASK",
    "EXCLUSIVE_GATEWAY",
    "INCLUSIVE_GATEWAY",
    "PARALLEL_GATEWAY",
    "EVENT_BASED_GATEWAY",
    "SEQUENCE_FLOW",
    "MULTI_INSTANCE_BODY",
    "CALL_ACTIVITY",
    "BUSINESS_RULE_TASK",
    "SCRIPT_TASK",
    "SEND_TASK",
    "UNKNOWN",
)
DECISION_INSTANCE_STATES = ("FAILED", "EVALUATED", "UNKNOWN", "UNSPECIFIED")
DECISION_TYPES = ("DECISION_TABLE", "LITERAL_EXPRESSION", "UNSPECIFIED", "UNKNOWN")
