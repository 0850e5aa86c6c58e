"""The registry of exportable Operate resources: one place that knows paths, keys and fields.

Everything that needs to know an entity's shape reads it from here: spec validation (filter and
sort fields, enums, key and date fields), the Arrow schemas of the Parquet sink, the paging loop
(unique tie-breaker key) and the bundled simulator. Adding an endpoint = one ``Endpoint`` entry
here, then tests (see CONTRIBUTING in the README).

Field facts follow ``shared/reference/operate-api.md`` section 3 (v1, Operate 8.4-8.8).
"""

from __future__ import annotations

from exporter.api.types import (
    DECISION_INSTANCE_STATES,
    DECISION_TYPES,
    FLOW_NODE_TYPES,
    Endpoint,
    Field,
    Kind,
)


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
FLOW_NODE_STATES = ("ACTIVE", "COMPLETED", "TERMINATED")

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
