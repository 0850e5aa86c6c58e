"""The registry of the v2 (Orchestration Cluster REST API) exports, in the model of v1's.

The eight v1 exports keep their v1 names (a job spec says ``endpoint: flownode-instances`` whatever
the API), v2 adds ``user-tasks`` and ``jobs``. Records keep v2's field names.

The table is data, ``endpoints.toml`` beside this module; this module holds the types it is
read into and the constants it names. What v2 needs on top of the neutral ``Endpoint`` /
``Field`` (``api/types.py``), as subclasses:

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

from exporter.api.registry_data import load_endpoints, lookup_endpoint
from exporter.api.types import (
    FLOW_NODE_TYPES,
    INCIDENT_TYPES,
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
# IncidentResult.errorType (P1) = IncidentErrorTypeEnum (P2): v1's incident types with the
# task listener and ad-hoc sub-process retries, and RESOURCE_NOT_FOUND.
_LISTENER_AT = INCIDENT_TYPES.index("EXECUTION_LISTENER_NO_RETRIES") + 1
INCIDENT_ERROR_TYPES = (
    *INCIDENT_TYPES[:_LISTENER_AT],
    "TASK_LISTENER_NO_RETRIES",
    "AD_HOC_SUB_PROCESS_NO_RETRIES",
    *INCIDENT_TYPES[_LISTENER_AT:],
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

# The table itself is data: endpoints.toml beside this module (one [[endpoint]] per export; its
# operators / enum options name the constants above).
V2_ENDPOINTS: dict[str, V2Endpoint] = load_endpoints(__name__, API, V2Endpoint, V2Field, globals())

V2_ENDPOINT_NAMES: tuple[str, ...] = tuple(V2_ENDPOINTS)


def register_v2(registry: MutableMapping[str, Mapping[str, Endpoint]]) -> None:
    """Add the v2 endpoints to a registry (idempotent); ``exporter.api.REGISTRY`` holds both."""
    registry[API] = V2_ENDPOINTS


def get_v2_endpoint(name: str) -> V2Endpoint:
    """Look a v2 export up; an unknown name is answered with the valid ones."""
    endpoint: V2Endpoint = lookup_endpoint(V2_ENDPOINTS, name, API)
    return endpoint


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
