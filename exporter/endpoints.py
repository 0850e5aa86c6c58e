"""The registry of exportable Operate resources: one place that knows paths, keys and fields.

Everything that needs to know an entity's shape reads it from here: spec validation (filter and
sort fields, enums, key and date fields), the Arrow schemas of the Parquet sink, the paging loop
(unique tie-breaker key) and the bundled simulator. Adding an endpoint = one ``Endpoint`` entry
here, then tests (see CONTRIBUTING in the README).

Field facts follow ``shared/reference/operate-api.md`` section 3 (v1, Operate 8.4-8.8).
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


def _key(name: str, **kw: object) -> Field:
    return Field(name, Kind.KEY, **kw)  # type: ignore[arg-type]


def _str(name: str, **kw: object) -> Field:
    return Field(name, Kind.STRING, **kw)  # type: ignore[arg-type]


def _enum(name: str, values: tuple[str, ...], **kw: object) -> Field:
    return Field(name, Kind.ENUM, enum=values, **kw)  # type: ignore[arg-type]


TENANT = _str("tenantId", description="Tenant; '<default>' when multi-tenancy is off")

PROCESS_INSTANCE_STATES = ("ACTIVE", "COMPLETED", "CANCELED")
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
INCIDENT_STATES = ("ACTIVE", "RESOLVED", "PENDING", "MIGRATED")
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
FLOW_NODE_STATES = ("ACTIVE", "COMPLETED", "TERMINATED")
DECISION_INSTANCE_STATES = ("FAILED", "EVALUATED", "UNKNOWN", "UNSPECIFIED")
DECISION_TYPES = ("DECISION_TABLE", "LITERAL_EXPRESSION", "UNSPECIFIED", "UNKNOWN")

V1_ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        Endpoint(
            name="process-definitions",
            api="v1",
            path="/v1/process-definitions",
            unique_key="key",
            has_xml=True,
            fields=(
                _key("key"),
                _str("name"),
                Field("version", Kind.INT32),
                _str("versionTag", filterable=False),
                _str("bpmnProcessId"),
                TENANT,
                Field("bpmnXml", Kind.XML, filterable=False, sortable=False, hydrated=True),
            ),
        ),
        Endpoint(
            name="process-instances",
            api="v1",
            path="/v1/process-instances",
            unique_key="key",
            filter_aliases={"parentProcessInstanceKey": "parentKey"},
            fields=(
                _key("key"),
                Field("processVersion", Kind.INT32),
                _str("processVersionTag"),
                _str("bpmnProcessId"),
                # parentKey is not an index field of the same name: sorting on it fails in ES.
                _key("parentKey", sortable=False),
                _key("parentFlowNodeInstanceKey"),
                Field("startDate", Kind.DATE),
                Field("endDate", Kind.DATE),
                _enum("state", PROCESS_INSTANCE_STATES),
                Field("incident", Kind.BOOL),
                _key("processDefinitionKey"),
                TENANT,
            ),
        ),
        Endpoint(
            name="incidents",
            api="v1",
            path="/v1/incidents",
            unique_key="key",
            fields=(
                _key("key"),
                _key("processDefinitionKey"),
                _key("processInstanceKey"),
                _enum("type", INCIDENT_TYPES),
                _str("message"),
                Field("creationTime", Kind.DATE),
                _enum("state", INCIDENT_STATES),
                _key("jobKey"),
                TENANT,
            ),
        ),
        Endpoint(
            name="flownode-instances",
            api="v1",
            path="/v1/flownode-instances",
            unique_key="key",
            fields=(
                _key("key"),
                _key("processInstanceKey"),
                _key("processDefinitionKey"),
                Field("startDate", Kind.DATE),
                Field("endDate", Kind.DATE),
                _str("flowNodeId"),
                # Resolved from the process cache at read time, not stored: no filter, no sort.
                _str("flowNodeName", filterable=False, sortable=False),
                _key("incidentKey"),
                _enum("type", FLOW_NODE_TYPES),
                _enum("state", FLOW_NODE_STATES),
                Field("incident", Kind.BOOL),
                TENANT,
            ),
        ),
        Endpoint(
            name="variables",
            api="v1",
            path="/v1/variables",
            unique_key="key",
            fields=(
                _key("key"),
                _key("processInstanceKey"),
                _key("scopeKey"),
                _str("name"),
                Field("value", Kind.JSON_TEXT, sortable=False),
                Field("truncated", Kind.BOOL),
                TENANT,
            ),
        ),
        Endpoint(
            name="decision-definitions",
            api="v1",
            path="/v1/decision-definitions",
            unique_key="key",
            fields=(
                _str("id"),
                _key("key"),
                _str("decisionId"),
                _str("name"),
                Field("version", Kind.INT32),
                _str("decisionRequirementsId"),
                _key("decisionRequirementsKey"),
                _str("decisionRequirementsName"),
                Field("decisionRequirementsVersion", Kind.INT32),
                TENANT,
            ),
        ),
        Endpoint(
            name="decision-requirements",
            api="v1",
            path="/v1/drd",
            unique_key="key",
            has_xml=True,
            fields=(
                _str("id"),
                _key("key"),
                _str("decisionRequirementsId"),
                _str("name"),
                Field("version", Kind.INT32),
                _str("resourceName"),
                TENANT,
                Field("dmnXml", Kind.XML, filterable=False, sortable=False, hydrated=True),
            ),
        ),
        Endpoint(
            name="decision-instances",
            api="v1",
            path="/v1/decision-instances",
            unique_key="id",
            fields=(
                _str("id"),
                # Not unique: one evaluation yields several decision instances.
                _key("key"),
                _enum("state", DECISION_INSTANCE_STATES),
                Field("evaluationDate", Kind.DATE),
                _str("evaluationFailure"),
                _key("processDefinitionKey"),
                _key("processInstanceKey"),
                _str("decisionId"),
                _str("decisionDefinitionId"),
                _str("decisionName"),
                Field("decisionVersion", Kind.INT32),
                _enum("decisionType", DECISION_TYPES),
                Field("result", Kind.JSON_TEXT, filterable=False, sortable=False),
                Field(
                    "evaluatedInputs",
                    Kind.EVALUATED_INPUTS,
                    filterable=False,
                    sortable=False,
                    hydrated=True,
                ),
                Field(
                    "evaluatedOutputs",
                    Kind.EVALUATED_OUTPUTS,
                    filterable=False,
                    sortable=False,
                    hydrated=True,
                ),
                TENANT,
            ),
        ),
    )
}

REGISTRY: dict[str, dict[str, Endpoint]] = {"v1": V1_ENDPOINTS}

# The v1 export names (kept for callers that predate v2); see ``endpoint_names(api)``.
ENDPOINT_NAMES: tuple[str, ...] = tuple(V1_ENDPOINTS)

APIS: tuple[str, ...] = ("v1", "v2")


def endpoint_names(api: str = "v1") -> tuple[str, ...]:
    """Export names of one API ("v1", "v2"); "auto" = every name either API knows."""
    if api == "auto":
        return tuple(dict.fromkeys(name for a in APIS for name in REGISTRY[a]))
    return tuple(REGISTRY[api])


def get_endpoint(name: str, api: str = "v1") -> Endpoint:
    """Look an endpoint up; an unknown name is answered with the valid ones."""
    endpoints = REGISTRY[api]
    try:
        return endpoints[name]
    except KeyError:
        valid = ", ".join(endpoints)
        message = f"unknown endpoint {name!r} for API {api}; valid endpoints are: {valid}"
        raise KeyError(message) from None


# The v2 registry subclasses the types above, so it is imported last; importing it registers
# REGISTRY["v2"] (whichever of the two modules is imported first).
import exporter.endpoints_v2  # noqa: E402, F401
