"""The v2 registry against the facts extracted from the saved 8.8 and 8.9 OpenAPI specs.

``tests/fixtures/v2_spec_facts.json`` is generated from ``/work/shared/reference/v2`` by
``tests/fixtures/extract_v2_spec_facts.py``; these tests make the registry agree with it field by
field, so a hand-edit that invents an operator or forgets a field fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exporter import api as endpoints
from exporter.api.types import Kind
from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.api.v2.registry import (
    MAX_PAGE_LIMIT,
    OPS_ALL,
    V2_ENDPOINTS,
    V2Endpoint,
    V2Field,
    V2Kind,
    get_v2_endpoint,
    register_v2,
)

FACTS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "v2_spec_facts.json").read_text()
)
VERSIONS = ("8.8", "8.9")
ALL = list(V2_ENDPOINTS.values())
IDS = [e.name for e in ALL]


def _facts(endpoint: V2Endpoint, version: str) -> dict[str, Any]:
    return FACTS[version][endpoint.resource]


def _result_columns(endpoint: V2Endpoint, version: str) -> set[str]:
    """Registry fields a search result of that version carries (hydrated fields excluded)."""
    return {
        f.name
        for f in endpoint.fields
        if isinstance(f, V2Field) and not f.hydrated and f.exists_in(version)
    }


def test_exports_keep_v1_names_and_add_user_tasks_and_jobs() -> None:
    assert set(V2_ENDPOINTS) == set(V1_ENDPOINTS) | {"user-tasks", "jobs"}
    paths = {name: e.path for name, e in V2_ENDPOINTS.items()}
    assert paths["flownode-instances"] == "/v2/element-instances"
    assert paths["decision-requirements"] == "/v2/decision-requirements"
    assert V2_ENDPOINTS["decision-requirements"].v1_path == "/v1/drd"
    for name, endpoint in V2_ENDPOINTS.items():
        assert endpoint.api == "v2"
        assert endpoint.search_path == f"{endpoint.path}/search"
        if name in V1_ENDPOINTS:
            assert endpoint.v1_path == V1_ENDPOINTS[name].path
        assert endpoint.resource in FACTS["8.8"], name


@pytest.mark.parametrize("endpoint", ALL, ids=IDS)
@pytest.mark.parametrize("version", VERSIONS)
def test_result_fields_match_the_spec(endpoint: V2Endpoint, version: str) -> None:
    assert _result_columns(endpoint, version) == set(_facts(endpoint, version)["result"])


@pytest.mark.parametrize("endpoint", ALL, ids=IDS)
def test_unique_key_is_a_single_column_of_the_right_kind(endpoint: V2Endpoint) -> None:
    names = [f.name for f in endpoint.fields]
    assert len(names) == len(set(names)), "duplicate field"
    key = endpoint.field(endpoint.unique_key)
    assert key is not None and key.filterable
    if endpoint.name == "decision-instances":
        # "<decisionEvaluationKey>-<n>" in 8.9: an opaque string, never int64.
        assert key.kind is Kind.STRING
    else:
        assert key.kind is Kind.KEY
    for version in VERSIONS:
        in_sort = endpoint.unique_key in _facts(endpoint, version)["sort"]
        assert endpoint.key_sortable == in_sort == key.sortable


def test_user_task_key_cannot_be_sorted_on() -> None:
    tasks = get_v2_endpoint("user-tasks")
    assert not tasks.key_sortable
    assert "userTaskKey" not in tasks.sort_fields


@pytest.mark.parametrize("endpoint", ALL, ids=IDS)
@pytest.mark.parametrize("version", VERSIONS)
def test_sortable_fields_are_in_the_sort_enum(endpoint: V2Endpoint, version: str) -> None:
    spec_sort = set(_facts(endpoint, version)["sort"])
    for f in endpoint.fields:
        assert isinstance(f, V2Field)
        if f.sortable and f.exists_in(version):
            assert f.name in spec_sort, f"{f.name} sortable in registry, not in {version} spec"


@pytest.mark.parametrize("endpoint", ALL, ids=IDS)
def test_sort_enum_fields_are_sortable_unless_dropped_by_a_version(endpoint: V2Endpoint) -> None:
    # A field sortable in both 8.8 and 8.9 must be sortable here (no silent omissions).
    both = set(_facts(endpoint, "8.8")["sort"]) & set(_facts(endpoint, "8.9")["sort"])
    assert both <= set(endpoint.sort_fields)


@pytest.mark.parametrize("endpoint", ALL, ids=IDS)
@pytest.mark.parametrize("version", VERSIONS)
def test_filter_operators_are_exactly_the_specs(endpoint: V2Endpoint, version: str) -> None:
    spec_filters: dict[str, list[str]] = _facts(endpoint, version)["filter"]
    registry = {
        name: spec
        for name in endpoint.filter_fields
        if (spec := endpoint.filter_field(name)) is not None and spec.exists_in(version)
    }
    assert set(registry) == set(spec_filters)
    for name, spec in registry.items():
        ops = spec.operators_for(version)
        assert ops <= OPS_ALL
        assert ops == set(spec_filters[name]), f"{name} on {version}"


@pytest.mark.parametrize("endpoint", ALL, ids=IDS)
@pytest.mark.parametrize("version", VERSIONS)
def test_enums_cover_the_spec_values(endpoint: V2Endpoint, version: str) -> None:
    for name, values in _facts(endpoint, version)["enums"].items():
        field = endpoint.field(name)
        assert field is not None and field.kind is Kind.ENUM, name
        assert set(values) <= set(field.enum), name


def test_v2_enum_values_replace_v1_names() -> None:
    state = get_v2_endpoint("process-instances").field("state")
    assert state is not None
    assert "TERMINATED" in state.enum and "CANCELED" not in state.enum


@pytest.mark.parametrize("endpoint", ALL, ids=IDS)
def test_dates_and_keys_use_the_v2_kinds(endpoint: V2Endpoint) -> None:
    for f in endpoint.fields:
        if f.name.endswith("Key") and f.name != "decisionEvaluationInstanceKey":
            assert f.kind is Kind.KEY, f.name
        if f.name.endswith(("Date", "Time")) or f.name in ("deadline", "evaluationDate"):
            assert f.kind is Kind.DATE, f.name


def test_hydration_paths() -> None:
    variables = get_v2_endpoint("variables")
    assert variables.truncated_flag == "isTruncated"
    assert variables.field("isTruncated") is not None
    assert variables.truncate_values_param == "truncateValues"
    assert variables.item_path("9007199254740993") == "/v2/variables/9007199254740993"

    decisions = get_v2_endpoint("decision-instances")
    assert decisions.item_path("2251799813685262-1") == "/v2/decision-instances/2251799813685262-1"
    for name in decisions.detail_fields:
        detail = decisions.field(name)
        assert detail is not None and detail.hydrated and not detail.filterable
    kinds = {decisions.field(n).kind for n in decisions.detail_fields}  # type: ignore[union-attr]
    assert kinds == {V2Kind.DECISION_INPUTS, V2Kind.MATCHED_RULES}

    for name in ("process-definitions", "decision-definitions", "decision-requirements"):
        endpoint = get_v2_endpoint(name)
        assert endpoint.has_xml and endpoint.xml_field is not None
        xml = endpoint.field(endpoint.xml_field)
        assert xml is not None and xml.kind is Kind.XML and xml.hydrated
        assert endpoint.xml_path("1") == f"{endpoint.path}/1/xml"
    assert get_v2_endpoint("process-definitions").xml_may_be_empty
    assert not get_v2_endpoint("jobs").has_get


def test_page_limits() -> None:
    for endpoint in ALL:
        assert endpoint.max_page_limit == MAX_PAGE_LIMIT == 10_000
        assert endpoint.default_page_limit == 100


def test_v1_names_map_to_v2_names() -> None:
    pi = get_v2_endpoint("process-instances")
    assert pi.v2_name_for_v1("bpmnProcessId") == "processDefinitionId"
    assert pi.v2_name_for_v1("key") == "processInstanceKey"
    assert pi.v2_name_for_v1("incident") == "hasIncident"
    fni = get_v2_endpoint("flownode-instances")
    assert fni.v2_name_for_v1("flowNodeId") == "elementId"
    di = get_v2_endpoint("decision-instances")
    assert di.v2_name_for_v1("id") == "decisionEvaluationInstanceKey"
    # Same name, other meaning: v1's decisionDefinitionId held the definition key.
    assert di.v2_name_for_v1("decisionDefinitionId") == "decisionDefinitionKey"


def test_register_v2_adds_the_lookup_without_touching_v1() -> None:
    registry = dict(endpoints.REGISTRY)
    register_v2(registry)
    assert registry["v2"] is V2_ENDPOINTS
    assert registry["v1"] is V1_ENDPOINTS
    assert endpoints.REGISTRY["v2"] is V2_ENDPOINTS  # importing the registry registers v2
    assert endpoints.endpoint_names("auto")[-2:] == ("user-tasks", "jobs")


def test_unknown_v2_endpoint_names_the_valid_ones() -> None:
    with pytest.raises(KeyError, match="user-tasks"):
        get_v2_endpoint("tasks")
