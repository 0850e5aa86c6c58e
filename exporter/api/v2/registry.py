"""The registry of the v2 (Orchestration Cluster REST API) exports, in the model of endpoints.py.

The eight v1 exports keep their v1 names (a job spec says ``endpoint: flownode-instances`` whatever
the API), v2 adds ``user-tasks`` and ``jobs``. Records keep v2's field names.

What v2 needs on top of the v1 ``Endpoint``/``Field`` model (kept here as subclasses so that
``endpoints.py`` stays untouched until the lead merges them):

* ``V2Field.operators``: the advanced filter operators the 8.8 spec gives the field's filter
  property (empty = plain value only); ``operators_8_9`` when 8.9 widened them; ``since`` for
  fields that only exist from 8.9 (they are nullable columns, missing on 8.8 servers).
* ``V2Field.v1_name``: the v1 field it replaces, so errors can say "v2 calls bpmnProcessId
  processDefinitionId".
* ``ShapeKind``: shapes v1 never had (string arrays, JSON objects, v2 decision details).
  ``Kind.KEY`` fields arrive as JSON strings (``^-?[0-9]+$``) and become int64;
  ``decisionEvaluationInstanceKey`` is ``Kind.STRING`` because 8.9 defines it as
  ``<decisionEvaluationKey>-<n>``.
* ``V2Endpoint``: filter-only properties, whether the key may be named in ``sort`` (user tasks:
  no), page limits, hydration paths (GET by key, XML, ``truncateValues``), v1 path.

Sources (``/work/shared/reference``): ``orchestration-v2.md`` section 4; the 8.8 spec
``v2/rest-api-8.8.yaml`` (P1) and the 8.9 split spec ``v2/8.9/<resource>.yaml`` (P2). Where the
two differ, the registry holds what works on both (8.8) and records the 8.9 extras separately.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

from exporter.api.types import (
    DECISION_INSTANCE_STATES,
    DECISION_TYPES,
    FLOW_NODE_TYPES,
    Endpoint,
    Field,
    Kind,
    ShapeKind,
)

API = "v2"

# The old name of ``ShapeKind`` (the simulator and the tests still say V2Kind).
V2Kind = ShapeKind

# P2 v2/8.9/search-models.yaml (LimitPagination / CursorForwardPagination: maximum 10000).
# P1 (8.8) gives no maximum, but the server validates it since the March 2026 backport (I7).
MAX_PAGE_LIMIT = 10_000
DEFAULT_PAGE_LIMIT = 100  # P1 SearchQueryPageRequest: limit default 100

# Filter operators by filter-property schema (P1 components/schemas, orchestration-v2.md 2.2).
OPS_ALL = frozenset(
    {"$eq", "$neq", "$exists", "$in", "$notIn", "$gt", "$gte", "$lt", "$lte", "$like"}
)
OPS_STRING = frozenset({"$eq", "$neq", "$exists", "$in", "$notIn", "$like"})  # StringFilterProperty
OPS_BASIC = frozenset(
    {"$eq", "$neq", "$exists", "$in", "$notIn"}
)  # BasicString / <X>KeyFilterProperty
OPS_RANGE = frozenset(
    {"$eq", "$neq", "$exists", "$gt", "$gte", "$lt", "$lte", "$in"}
)  # Date/Integer
OPS_ENUM = frozenset({"$eq", "$neq", "$exists", "$in", "$like"})  # <X>StateFilterProperty (8.8)
OPS_ENUM_8_9 = OPS_ENUM | {"$notIn"}  # 8.9 incident/decision-instance enum filters
EXACT: frozenset[str] = frozenset()  # plain typed field: exact match only

SERVER_VERSIONS = ("8.8", "8.9")


@dataclass(frozen=True)
class V2Field(Field):
    kind: Kind | ShapeKind  # type: ignore[assignment]
    # Advanced operators accepted by the 8.8 filter property; EXACT = plain value only.
    operators: frozenset[str] = EXACT
    # Operators accepted from 8.9 on, when 8.9 widened them (None = same as 8.8).
    operators_8_9: frozenset[str] | None = None
    since: str = "8.8"  # first version whose spec has the field
    # Sortable only from this version on (8.9 added hasFailedWithRetriesLeft to the jobs' sort
    # enum); ``sortable`` stays False, so 8.8 refuses it.
    sortable_since: str | None = None
    v1_name: str | None = None
    # Filter-only property that tests a record attribute of another name (candidateGroup ->
    # candidateGroups: matches when any element matches).
    record_field: str | None = None

    def operators_for(self, server_version: str) -> frozenset[str]:
        if server_version != "8.8" and self.operators_8_9 is not None:
            return self.operators_8_9
        return self.operators

    def exists_in(self, server_version: str) -> bool:
        return SERVER_VERSIONS.index(server_version) >= SERVER_VERSIONS.index(self.since)

    def sortable_in(self, server_version: str) -> bool:
        if self.sortable:
            return True
        since = self.sortable_since
        return since is not None and (
            SERVER_VERSIONS.index(server_version) >= SERVER_VERSIONS.index(since)
        )


@dataclass(frozen=True)
class V2Endpoint(Endpoint):
    # v1 collection path of the same export, for messages and the auto probe.
    v1_path: str | None = None
    # Filter properties that are not result fields (isLatestVersion, candidateGroup, ...).
    filter_only: tuple[V2Field, ...] = ()
    # Some resources cannot be sorted by their key (user tasks, P1 UserTaskSearchQuerySortRequest):
    # the paginator must not append it; the server tie-breaks on it anyway.
    key_sortable: bool = True
    max_page_limit: int = MAX_PAGE_LIMIT
    default_page_limit: int = DEFAULT_PAGE_LIMIT
    has_get: bool = True  # GET {path}/{key} exists (not for jobs)
    xml_field: str | None = None  # column the XML hydration fills (has_xml endpoints)
    # XML endpoint may answer 204 for "no XML" (process definitions, P1 line ~1637).
    xml_may_be_empty: bool = False
    # Variables: search truncates values and flags them; GET by key returns the full value.
    truncated_flag: str | None = None
    truncate_values_param: str | None = None  # query parameter: ?truncateValues=false
    # Fields only GET by key returns (decision instances).
    detail_fields: tuple[str, ...] = ()
    spec_ref: str = ""  # where the facts come from

    @property
    def resource(self) -> str:
        """v2 resource name, e.g. "element-instances" for the flownode-instances export."""
        return self.path.rsplit("/", 1)[-1]

    def xml_path(self, key: int | str) -> str:
        return f"{self.path}/{key}/xml"

    @property
    def filter_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.filterable) + tuple(
            f.name for f in self.filter_only
        )

    def filter_field(self, name: str) -> V2Field | None:
        """The filter property of that name (result field or filter-only), if filterable."""
        for candidate in self.filter_only:
            if candidate.name == name:
                return candidate
        found = self.field(name)
        if isinstance(found, V2Field) and found.filterable:
            return found
        return None

    def v2_name_for_v1(self, v1_name: str) -> str | None:
        for f in (*self.fields, *self.filter_only):
            if isinstance(f, V2Field) and f.v1_name == v1_name:
                return f.name
        return None


def _v2(**kw: object) -> V2Endpoint:
    return V2Endpoint(api=API, **kw)  # type: ignore[arg-type]


# -- field constructors ------------------------------------------------------------------------


def _f(name: str, kind: Kind | ShapeKind, ops: frozenset[str] = EXACT, **kw: object) -> V2Field:
    return V2Field(name, kind, operators=ops, **kw)  # type: ignore[arg-type]


def _key(name: str, ops: frozenset[str] = EXACT, **kw: object) -> V2Field:
    return _f(name, Kind.KEY, ops, **kw)


def _str(name: str, ops: frozenset[str] = EXACT, **kw: object) -> V2Field:
    return _f(name, Kind.STRING, ops, **kw)


def _enum(name: str, values: tuple[str, ...], ops: frozenset[str] = EXACT, **kw: object) -> V2Field:
    return _f(name, Kind.ENUM, ops, enum=values, **kw)


def _date(name: str, ops: frozenset[str] = OPS_RANGE, **kw: object) -> V2Field:
    return _f(name, Kind.DATE, ops, **kw)


def _int(name: str, ops: frozenset[str] = EXACT, **kw: object) -> V2Field:
    return _f(name, Kind.INT32, ops, **kw)


def _bool(name: str, **kw: object) -> V2Field:
    return _f(name, Kind.BOOL, EXACT, **kw)


def _root_pi_key() -> V2Field:
    # 8.9 adds rootProcessInstanceKey to results only (no filter, no sort) [P2].
    return _key("rootProcessInstanceKey", filterable=False, sortable=False, since="8.9")


def _filter_only(
    name: str, kind: Kind | ShapeKind, ops: frozenset[str] = EXACT, **kw: object
) -> V2Field:
    return _f(name, kind, ops, sortable=False, **kw)


# -- enums (P1 / P2 enum schemas; 8.9 values are added, unknown values still pass in output) --

PROCESS_INSTANCE_STATES_V2 = ("ACTIVE", "COMPLETED", "TERMINATED")  # ProcessInstanceStateEnum
ELEMENT_INSTANCE_STATES = ("ACTIVE", "COMPLETED", "TERMINATED")  # ElementInstanceStateEnum
# ElementInstanceResult.type: v1's flow node types with the ad-hoc sub-process types (8.8).
_AD_HOC_AT = FLOW_NODE_TYPES.index("EVENT_SUB_PROCESS") + 1
ELEMENT_INSTANCE_TYPES = (
    *FLOW_NODE_TYPES[:_AD_HOC_AT],
    "AD_HOC_SUB_PROCESS",
    "AD_HOC_SUB_PROCESS_INNER_INSTANCE",
    *FLOW_NODE_TYPES[_AD_HOC_AT:],
)
INCIDENT_ERROR_TYPES = (  # IncidentResult.errorType (P1) = IncidentErrorTypeEnum (P2)
    "UNSPECIFIED",
    "UNKNOWN",
    "IO_MAPPING_ERROR",
    "JOB_NO_RETRIES",
    "EXECUTION_LISTENER_NO_RETRIES",
    "TASK_LISTENER_NO_RETRIES",
    "AD_HOC_SUB_PROCESS_NO_RETRIES",
    "CONDITION_ERROR",
    "EXTRACT_VALUE_ERROR",
    "CALLED_ELEMENT_ERROR",
    "UNHANDLED_ERROR_EVENT",
    "MESSAGE_SIZE_EXCEEDED",
    "CALLED_DECISION_ERROR",
    "DECISION_EVALUATION_ERROR",
    "FORM_NOT_FOUND",
    "RESOURCE_NOT_FOUND",
)
INCIDENT_STATES_V2 = ("ACTIVE", "MIGRATED", "RESOLVED", "PENDING", "UNKNOWN")  # UNKNOWN: 8.9
PROCESS_DEFINITION_STATES = ("ACTIVE", "DELETED")  # 8.9 only
USER_TASK_STATES = (  # UserTaskStateEnum
    "CREATING",
    "CREATED",
    "ASSIGNING",
    "UPDATING",
    "COMPLETING",
    "COMPLETED",
    "CANCELING",
    "CANCELED",
    "FAILED",
)
JOB_STATES = (  # JobStateEnum
    "CANCELED",
    "COMPLETED",
    "CREATED",
    "ERROR_THROWN",
    "FAILED",
    "MIGRATED",
    "RETRIES_UPDATED",
    "TIMED_OUT",
)
JOB_KINDS = ("BPMN_ELEMENT", "EXECUTION_LISTENER", "TASK_LISTENER", "AD_HOC_SUB_PROCESS")
JOB_LISTENER_EVENT_TYPES = (
    "ASSIGNING",
    "CANCELING",
    "COMPLETING",
    "CREATING",
    "END",
    "START",
    "UNSPECIFIED",
    "UPDATING",
)

# v1 enum values that v2 renamed, per export and field (doc D5: CANCELED -> TERMINATED).
RENAMED_ENUM_VALUES: dict[tuple[str, str], dict[str, str]] = {
    ("process-instances", "state"): {"CANCELED": "TERMINATED"},
}

TENANT_EXACT = _str("tenantId", v1_name="tenantId")
TENANT_STRING = _str("tenantId", OPS_STRING, v1_name="tenantId")


V2_ENDPOINTS: dict[str, V2Endpoint] = {
    e.name: e
    for e in (
        # P1 ProcessDefinitionResult / ProcessDefinitionFilter / ...SortRequest (lines ~1566-1680);
        # P2 v2/8.9/process-definitions.yaml (adds state).
        _v2(
            name="process-definitions",
            path="/v2/process-definitions",
            v1_path="/v1/process-definitions",
            unique_key="processDefinitionKey",
            has_xml=True,
            xml_field="bpmnXml",
            xml_may_be_empty=True,
            spec_ref="P1 ProcessDefinition*; P2 process-definitions.yaml",
            fields=(
                _key("processDefinitionKey", v1_name="key"),
                _str("name", OPS_STRING, v1_name="name"),
                _str("resourceName"),
                _int("version", v1_name="version"),
                _str("versionTag", v1_name="versionTag"),
                _str("processDefinitionId", OPS_STRING, v1_name="bpmnProcessId"),
                TENANT_EXACT,
                _bool("hasStartForm", sortable=False),
                _enum("state", PROCESS_DEFINITION_STATES, sortable=False, since="8.9"),
                _f("bpmnXml", Kind.XML, filterable=False, sortable=False, hydrated=True),
            ),
            filter_only=(_filter_only("isLatestVersion", Kind.BOOL),),
        ),
        # P1 ProcessInstanceResult / ProcessInstanceFilter (lines ~1915+);
        # P2 process-instances.yaml.
        _v2(
            name="process-instances",
            path="/v2/process-instances",
            v1_path="/v1/process-instances",
            unique_key="processInstanceKey",
            spec_ref="P1 ProcessInstance*; P2 process-instances.yaml",
            fields=(
                _key("processInstanceKey", OPS_BASIC, v1_name="key"),
                _str("processDefinitionId", OPS_STRING, v1_name="bpmnProcessId"),
                _str("processDefinitionName", OPS_STRING),
                _int("processDefinitionVersion", OPS_RANGE, v1_name="processVersion"),
                _str("processDefinitionVersionTag", OPS_STRING, v1_name="processVersionTag"),
                _key("processDefinitionKey", OPS_BASIC, v1_name="processDefinitionKey"),
                _key("parentProcessInstanceKey", OPS_BASIC, v1_name="parentKey"),
                _key("parentElementInstanceKey", OPS_BASIC, v1_name="parentFlowNodeInstanceKey"),
                _date("startDate", v1_name="startDate"),
                _date("endDate", v1_name="endDate"),
                _enum("state", PROCESS_INSTANCE_STATES_V2, OPS_ENUM, v1_name="state"),
                _bool("hasIncident", v1_name="incident"),
                TENANT_STRING,
                # TagSet filter: exact set match; not sortable.
                _f("tags", ShapeKind.STRING_LIST, sortable=False),
                _root_pi_key(),
                _str("businessId", OPS_STRING, since="8.9"),
            ),
            filter_only=(
                _filter_only("variables", ShapeKind.VARIABLE_FILTERS),
                _filter_only("errorMessage", Kind.STRING, OPS_STRING),
                _filter_only("batchOperationId", Kind.STRING, OPS_STRING),
                _filter_only("batchOperationKey", Kind.STRING, OPS_STRING, since="8.9"),
                _filter_only("elementId", Kind.STRING, OPS_STRING),
                _filter_only(
                    "elementInstanceState", Kind.ENUM, OPS_ENUM, enum=ELEMENT_INSTANCE_STATES
                ),
                _filter_only("hasRetriesLeft", Kind.BOOL),
                _filter_only("hasElementInstanceIncident", Kind.BOOL),
                _filter_only("incidentErrorHashCode", Kind.INT32, OPS_RANGE),
                _filter_only("$or", ShapeKind.OR_GROUPS),
            ),
        ),
        # P1 ElementInstanceResult / ElementInstanceFilter (lines ~2314+);
        # P2 element-instances.yaml.
        _v2(
            name="flownode-instances",
            path="/v2/element-instances",
            v1_path="/v1/flownode-instances",
            unique_key="elementInstanceKey",
            spec_ref="P1 ElementInstance*; P2 element-instances.yaml",
            fields=(
                _key("elementInstanceKey", v1_name="key"),
                _key("processInstanceKey", v1_name="processInstanceKey"),
                _key("processDefinitionKey", v1_name="processDefinitionKey"),
                _str("processDefinitionId"),
                _date("startDate", v1_name="startDate"),
                _date("endDate", v1_name="endDate"),
                _str("elementId", v1_name="flowNodeId"),
                _str("elementName", v1_name="flowNodeName"),
                _enum("type", ELEMENT_INSTANCE_TYPES, v1_name="type"),
                _enum("state", ELEMENT_INSTANCE_STATES, OPS_ENUM, v1_name="state"),
                _bool("hasIncident", sortable=False, v1_name="incident"),
                _key("incidentKey", v1_name="incidentKey"),
                TENANT_EXACT,
                _root_pi_key(),
            ),
            filter_only=(_filter_only("elementInstanceScopeKey", Kind.KEY),),
        ),
        # P1 IncidentResult / IncidentFilter (lines ~4940+); P2 incidents.yaml (advanced ops on
        # every filter field, state UNKNOWN, errorMessage no longer sortable).
        _v2(
            name="incidents",
            path="/v2/incidents",
            v1_path="/v1/incidents",
            unique_key="incidentKey",
            spec_ref="P1 Incident*; P2 incidents.yaml",
            fields=(
                _key("incidentKey", operators_8_9=OPS_BASIC, v1_name="key"),
                _key(
                    "processDefinitionKey", operators_8_9=OPS_BASIC, v1_name="processDefinitionKey"
                ),
                _str("processDefinitionId", operators_8_9=OPS_STRING),
                _key("processInstanceKey", operators_8_9=OPS_BASIC, v1_name="processInstanceKey"),
                _key("elementInstanceKey", operators_8_9=OPS_BASIC),
                _str("elementId", operators_8_9=OPS_STRING),
                _enum(
                    "errorType", INCIDENT_ERROR_TYPES, operators_8_9=OPS_ENUM_8_9, v1_name="type"
                ),
                # Sortable in 8.8, dropped from the 8.9 sort enum: not sortable here.
                _str("errorMessage", sortable=False, operators_8_9=OPS_STRING, v1_name="message"),
                _date("creationTime", v1_name="creationTime"),
                _enum("state", INCIDENT_STATES_V2, operators_8_9=OPS_ENUM_8_9, v1_name="state"),
                _key("jobKey", operators_8_9=OPS_BASIC, v1_name="jobKey"),
                _str("tenantId", operators_8_9=OPS_STRING, v1_name="tenantId"),
                _root_pi_key(),
            ),
        ),
        # P1 VariableSearchResult / VariableFilter (lines ~1441-1520); P2 variables.yaml.
        _v2(
            name="variables",
            path="/v2/variables",
            v1_path="/v1/variables",
            unique_key="variableKey",
            truncated_flag="isTruncated",
            truncate_values_param="truncateValues",
            spec_ref="P1 Variable*, /variables/search truncateValues; P2 variables.yaml",
            fields=(
                _key("variableKey", OPS_BASIC, v1_name="key"),
                _key("processInstanceKey", OPS_BASIC, v1_name="processInstanceKey"),
                _key("scopeKey", OPS_BASIC, v1_name="scopeKey"),
                _str("name", OPS_STRING, v1_name="name"),
                _f("value", Kind.JSON_TEXT, OPS_STRING, v1_name="value"),
                _bool("isTruncated", sortable=False, v1_name="truncated"),
                TENANT_EXACT,
                _root_pi_key(),
            ),
        ),
        # P1 DecisionDefinitionResult (lines ~2383-2490); P2 decision-definitions.yaml
        # (decisionRequirementsName/Version return, isLatestVersion filter).
        _v2(
            name="decision-definitions",
            path="/v2/decision-definitions",
            v1_path="/v1/decision-definitions",
            unique_key="decisionDefinitionKey",
            has_xml=True,
            xml_field="dmnXml",
            spec_ref="P1 DecisionDefinition*; P2 decision-definitions.yaml",
            fields=(
                _key("decisionDefinitionKey", v1_name="key"),
                _str("decisionDefinitionId", v1_name="decisionId"),
                _str("name", v1_name="name"),
                _int("version", v1_name="version"),
                _str("decisionRequirementsId", v1_name="decisionRequirementsId"),
                _key("decisionRequirementsKey", v1_name="decisionRequirementsKey"),
                _str("decisionRequirementsName", since="8.9", v1_name="decisionRequirementsName"),
                _int(
                    "decisionRequirementsVersion",
                    since="8.9",
                    v1_name="decisionRequirementsVersion",
                ),
                TENANT_EXACT,
                _f("dmnXml", Kind.XML, filterable=False, sortable=False, hydrated=True),
            ),
            filter_only=(_filter_only("isLatestVersion", Kind.BOOL, since="8.9"),),
        ),
        # P1 DecisionRequirementsResult (lines ~2492-2600); P2 decision-requirements.yaml.
        _v2(
            name="decision-requirements",
            path="/v2/decision-requirements",
            v1_path="/v1/drd",
            unique_key="decisionRequirementsKey",
            has_xml=True,
            xml_field="dmnXml",
            spec_ref="P1 DecisionRequirements*; P2 decision-requirements.yaml",
            fields=(
                _key("decisionRequirementsKey", v1_name="key"),
                _str("decisionRequirementsId", v1_name="decisionRequirementsId"),
                _str("decisionRequirementsName", v1_name="name"),
                _int("version", v1_name="version"),
                _str("resourceName", sortable=False, v1_name="resourceName"),
                TENANT_EXACT,
                _f("dmnXml", Kind.XML, filterable=False, sortable=False, hydrated=True),
            ),
        ),
        # P1 DecisionInstanceResult / DecisionInstanceGetQueryResult (lines ~2600-2700);
        # P2 decision-instances.yaml (key pattern ^[0-9]+-[0-9]+$, advanced ops on state & key).
        _v2(
            name="decision-instances",
            path="/v2/decision-instances",
            v1_path="/v1/decision-instances",
            unique_key="decisionEvaluationInstanceKey",
            detail_fields=("evaluatedInputs", "matchedRules"),
            spec_ref="P1 DecisionInstance*; P2 decision-instances.yaml",
            fields=(
                # An opaque string id "<decisionEvaluationKey>-<n>": never an int64 column.
                _str("decisionEvaluationInstanceKey", operators_8_9=OPS_BASIC, v1_name="id"),
                # Not unique: one evaluation yields several decision instances.
                _key("decisionEvaluationKey", v1_name="key"),
                _enum(
                    "state", DECISION_INSTANCE_STATES, operators_8_9=OPS_ENUM_8_9, v1_name="state"
                ),
                _date("evaluationDate", v1_name="evaluationDate"),
                _str("evaluationFailure", v1_name="evaluationFailure"),
                _str("decisionDefinitionId", v1_name="decisionId"),
                # v1 decisionDefinitionId held this key as a string (same name, other meaning).
                _key("decisionDefinitionKey", OPS_BASIC, v1_name="decisionDefinitionId"),
                _str("decisionDefinitionName", v1_name="decisionName"),
                _int("decisionDefinitionVersion", v1_name="decisionVersion"),
                _enum("decisionDefinitionType", DECISION_TYPES, v1_name="decisionType"),
                _f("result", Kind.JSON_TEXT, filterable=False, sortable=False, v1_name="result"),
                _key("processDefinitionKey", v1_name="processDefinitionKey"),
                _key("processInstanceKey", v1_name="processInstanceKey"),
                _key("elementInstanceKey", OPS_BASIC),
                TENANT_EXACT,
                _key("rootDecisionDefinitionKey", since="8.9", operators_8_9=OPS_BASIC),
                _root_pi_key(),
                _f(
                    "evaluatedInputs",
                    ShapeKind.DECISION_INPUTS,
                    filterable=False,
                    sortable=False,
                    hydrated=True,
                    v1_name="evaluatedInputs",
                ),
                _f(
                    "matchedRules",
                    ShapeKind.MATCHED_RULES,
                    filterable=False,
                    sortable=False,
                    hydrated=True,
                    v1_name="evaluatedOutputs",
                ),
            ),
            filter_only=(
                _filter_only("decisionRequirementsKey", Kind.KEY, OPS_BASIC, since="8.9"),
            ),
        ),
        # P1 UserTaskResult / UserTaskFilter / UserTaskSearchQuerySortRequest (lines ~1211-1440);
        # P2 user-tasks.yaml (name gets string ops, tags). Only Camunda user tasks (doc D1).
        _v2(
            name="user-tasks",
            path="/v2/user-tasks",
            v1_path=None,
            unique_key="userTaskKey",
            key_sortable=False,
            spec_ref="P1 UserTask*; P2 user-tasks.yaml",
            fields=(
                _key("userTaskKey", sortable=False),
                _str("name", operators_8_9=OPS_STRING),
                _enum("state", USER_TASK_STATES, OPS_ENUM, sortable=False),
                _str("assignee", OPS_STRING, sortable=False),
                _str("elementId", sortable=False),
                _f("candidateGroups", ShapeKind.STRING_LIST, filterable=False, sortable=False),
                _f("candidateUsers", ShapeKind.STRING_LIST, filterable=False, sortable=False),
                _str("processDefinitionId", sortable=False),
                _date("creationDate"),
                _date("completionDate"),
                _date("followUpDate"),
                _date("dueDate"),
                _str("tenantId", OPS_STRING, sortable=False),
                _str("externalFormReference", filterable=False, sortable=False),
                _int("processDefinitionVersion", filterable=False, sortable=False),
                _f("customHeaders", ShapeKind.JSON_OBJECT, filterable=False, sortable=False),
                _int("priority", OPS_RANGE),
                _key("elementInstanceKey", sortable=False),
                _str("processName", filterable=False, sortable=False),
                _key("processDefinitionKey", sortable=False),
                _key("processInstanceKey", sortable=False),
                _key("formKey", filterable=False, sortable=False),
                _f("tags", ShapeKind.STRING_LIST, sortable=False, since="8.9"),
                _root_pi_key(),
            ),
            filter_only=(
                _filter_only(
                    "candidateGroup", Kind.STRING, OPS_STRING, record_field="candidateGroups"
                ),
                _filter_only(
                    "candidateUser", Kind.STRING, OPS_STRING, record_field="candidateUsers"
                ),
                _filter_only("localVariables", ShapeKind.VARIABLE_FILTERS),
                _filter_only("processInstanceVariables", ShapeKind.VARIABLE_FILTERS),
            ),
        ),
        # P1 JobSearchResult / JobFilter / JobSearchQuerySortRequest (lines ~165-330);
        # P2 jobs.yaml (adds creationTime and lastUpdateTime, not sortable; its sort enum adds
        # hasFailedWithRetriesLeft).
        # No GET /v2/jobs/{jobKey} (only PATCH), so no hydration.
        _v2(
            name="jobs",
            path="/v2/jobs",
            v1_path=None,
            unique_key="jobKey",
            has_get=False,
            spec_ref="P1 Job*; P2 jobs.yaml",
            fields=(
                _key("jobKey", OPS_BASIC),
                _str("type", OPS_STRING),
                _str("worker", OPS_STRING),
                _enum("state", JOB_STATES, OPS_ENUM),
                _enum("kind", JOB_KINDS, OPS_ENUM),
                _enum("listenerEventType", JOB_LISTENER_EVENT_TYPES, OPS_ENUM),
                _int("retries", OPS_RANGE),
                _bool("hasFailedWithRetriesLeft", sortable=False, sortable_since="8.9"),
                _bool("isDenied"),
                _str("deniedReason", OPS_STRING),
                _str("errorCode", OPS_STRING),
                _str("errorMessage", OPS_STRING),
                _date("deadline"),
                _date("endTime"),
                _str("processDefinitionId", OPS_STRING),
                _key("processDefinitionKey", OPS_BASIC),
                _key("processInstanceKey", OPS_BASIC),
                _str("elementId", OPS_STRING),
                _key("elementInstanceKey", OPS_BASIC),
                _f("customHeaders", ShapeKind.JSON_OBJECT, filterable=False, sortable=False),
                _str("tenantId", OPS_STRING),
                _date("creationTime", sortable=False, since="8.9"),
                _date("lastUpdateTime", sortable=False, since="8.9"),
                _root_pi_key(),
            ),
        ),
    )
}

V2_ENDPOINT_NAMES: tuple[str, ...] = tuple(V2_ENDPOINTS)


def register_v2(registry: MutableMapping[str, Mapping[str, Endpoint]]) -> None:
    """Add the v2 endpoints to a registry (idempotent); ``exporter.api.REGISTRY`` holds both."""
    registry[API] = V2_ENDPOINTS


def get_v2_endpoint(name: str) -> V2Endpoint:
    """Look a v2 export up; an unknown name is answered with the valid ones."""
    try:
        return V2_ENDPOINTS[name]
    except KeyError:
        valid = ", ".join(V2_ENDPOINTS)
        message = f"unknown endpoint {name!r} for API v2; valid endpoints are: {valid}"
        raise KeyError(message) from None


__all__ = [
    "API",
    "DEFAULT_PAGE_LIMIT",
    "MAX_PAGE_LIMIT",
    "OPS_ALL",
    "RENAMED_ENUM_VALUES",
    "V2_ENDPOINTS",
    "V2_ENDPOINT_NAMES",
    "V2Endpoint",
    "V2Field",
    "V2Kind",
    "get_v2_endpoint",
    "register_v2",
]
