"""source.api v1 | v2 | auto: validation against the chosen API, and re-checks after the probe."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.api.validation import parse_spec_text, resolve_api, validate_document
from exporter.errors import SpecError


def doc(api: str | None, *exports: dict[str, Any], **source: Any) -> dict[str, Any]:
    src: dict[str, Any] = {"base_url": "http://127.0.0.1:8080", **source}
    if api is not None:
        src["api"] = api
    return {"version": 1, "source": src, "exports": list(exports)}


RANGE = {"startDate": {"$gte": "2026-11-01T00:00:00Z", "$lt": "2026-12-01T00:00:00Z"}}
V1_DATE_MATH = {"startDate": "2026-11-01T00:00:00.000+0000||/M"}


def paths(problems: list[Any]) -> list[str]:
    return [p.path for p in problems]


def test_v2_range_filter_is_valid_on_v2_and_auto_but_not_on_v1() -> None:
    export = {"endpoint": "process-instances", "filter": RANGE}
    assert validate_document(doc("v2", export)) == []
    assert validate_document(doc(None, export)) == []  # auto: fits v2
    problems = validate_document(doc("v1", export))
    assert paths(problems) == ["exports[0].filter.startDate"]


def test_v1_date_math_is_valid_on_v1_and_auto_and_explained_on_v2() -> None:
    export = {"endpoint": "process-instances", "filter": V1_DATE_MATH}
    assert validate_document(doc("v1", export)) == []
    assert validate_document(doc("auto", export)) == []
    (problem,) = validate_document(doc("v2", export))
    assert problem.path == "exports[0].filter.startDate"
    assert "v1 only" in problem.message and "$gte" in problem.message


def test_auto_reports_when_a_spec_fits_neither_api() -> None:
    export = {"endpoint": "process-instances", "filter": {"nope": 1}}
    (problem,) = validate_document(doc("auto", export))
    assert problem.path == "exports[0].filter.nope"
    assert "unknown filter field 'nope'" in problem.message  # v1's words: a v1 export


def test_v1_field_names_on_v2_get_the_v2_name() -> None:
    export = {"endpoint": "flownode-instances", "filter": {"flowNodeId": "review"}}
    (problem,) = validate_document(doc("v2", export))
    assert "v2 calls it 'elementId'" in problem.message
    sort = {"endpoint": "process-instances", "sort": [{"field": "bpmnProcessId"}]}
    (problem,) = validate_document(doc("v2", sort))
    assert problem.path == "exports[0].sort[0].field"
    assert "processDefinitionId" in problem.message


def test_user_tasks_and_jobs_need_v2() -> None:
    tasks = {"endpoint": "user-tasks", "filter": {"state": "CREATED"}}
    assert validate_document(doc("v2", tasks, {"endpoint": "jobs"})) == []
    assert validate_document(doc("auto", tasks)) == []
    (problem,) = validate_document(doc("v1", tasks))
    assert problem.path == "exports[0].endpoint"
    assert "needs api: v2" in problem.message


def test_operator_support_follows_the_field_and_the_server_version() -> None:
    like = {"endpoint": "process-instances", "filter": {"processDefinitionId": {"$like": "ord*"}}}
    assert validate_document(doc("v2", like)) == []
    exact = {"endpoint": "incidents", "filter": {"errorType": {"$in": ["JOB_NO_RETRIES"]}}}
    (problem,) = validate_document(doc("v2", exact))
    assert "8.9 and later" in problem.message
    assert validate_document(doc("v2", exact, server_version="8.9")) == []


def test_page_size_limit_depends_on_the_api() -> None:
    export = {"endpoint": "variables", "page_size": 5000}
    assert validate_document(doc("v2", export)) == []
    (problem,) = validate_document(doc("v1", export))
    assert problem.message.startswith("5000 is greater than the maximum of 1000")
    over = {"endpoint": "variables", "page_size": 10001}
    assert paths(validate_document(doc("v2", over))) == ["exports[0].page_size"]


AUTO_RANGE = """\
version: 1
source:
  base_url: http://127.0.0.1:8080
exports:
  - endpoint: process-instances
    filter:
      startDate: {$gte: "2026-11-01T00:00:00Z"}
      processDefinitionKey: "2251799813685255"
"""


def test_resolve_api_types_filters_and_refuses_a_spec_the_chosen_api_cannot_run() -> None:
    spec = parse_spec_text(AUTO_RANGE)
    assert spec.source.api == "auto"
    on_v2 = resolve_api(spec, "v2")
    assert on_v2.source.api == "v2"
    assert on_v2.exports[0].filter["processDefinitionKey"] == "2251799813685255"
    with pytest.raises(SpecError) as info:
        resolve_api(spec, "v1")
    (problem,) = info.value.problems
    assert problem.path == "exports[0].filter.startDate"
    assert "probed as API v1" in problem.message


def test_saas_audience_default_follows_the_api() -> None:
    base = "version: 1\nsource:\n  base_url: http://h:1\n  api: {api}\n  auth:\n"
    auth = "    mode: saas\n    client_id: a\n    client_secret: b\nexports:\n  - endpoint: jobs\n"
    v2 = parse_spec_text(base.format(api="v2") + auth)
    assert v2.source.auth.audience == "zeebe.camunda.io"
    auto = parse_spec_text(base.format(api="auto") + auth)
    assert auto.source.auth.audience == "operate.camunda.io"
