"""The simulator's answers validate against the official OpenAPI specs (openapi-core).

v1 against Operate's 8.5 spec, v2 against the 8.8 and 8.9 specs according to the simulator's
``server_version``: every search endpoint paged to its end, a GET by key of every record of the
small dataset, XML, the error shapes (400, 401, 404) and the topology. The requests the tests
send are validated too, so a test cannot pass by asking for something the spec does not allow.
The specs' own generation bugs are worked around in ``tests/openapi_workarounds.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.validators import (
    V30RequestBodyValidator,
    V30RequestParametersValidator,
)

from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.api.v2.registry import V2_ENDPOINTS
from exporter.simulator import Simulator, SimulatorConfig
from tests.openapi_specs import SERVER, SPEC_DIR, git_blob_id, load_spec, validator
from tests.openapi_workarounds import WORKAROUNDS, apply_workarounds

SCALE = 40
V2_VERSIONS = ("8.8", "8.9")

# Git blob ids of the upstream files (shared/reference/README.md, shared/reference/v2/README.md).
UPSTREAM_BLOBS = {
    "v2-rest-api-8.8.yaml": "7b44e66edef43ecae7447c9325e0e8b12ea468d9",
    "v2-8.9/audit-logs.yaml": "5142813a3de06ad49b5f00f9bbfa330ad76306c1",
    "v2-8.9/batch-operations.yaml": "1a100f628f0e949468da6148c8d41f99d5eaea6f",
    "v2-8.9/common-responses.yaml": "b56e521dc41dc486a479ec91cba940b7e7bc0472",
    "v2-8.9/cursors.yaml": "9ad9e6e5f24e0b4062e64f82b6e16b2dc71554aa",
    "v2-8.9/decision-definitions.yaml": "1aa4531c7673fd33118685928c32e090742693fa",
    "v2-8.9/decision-instances.yaml": "3e72828b0038e14eb88d9c406df0bb356cbdeea3",
    "v2-8.9/decision-requirements.yaml": "93525cd96141d5725ba3c213fd66960916767aca",
    "v2-8.9/deployments.yaml": "4ea94a02538fedc0ade5f5902f9d0db2bfb23d40",
    "v2-8.9/element-instances.yaml": "8c51f9545e91e4ddf09712ab8886090cd46388e5",
    "v2-8.9/filters.yaml": "74cc9191930096e70db38fc907aed3b04f30ecfb",
    "v2-8.9/form-models.yaml": "3925a0d04cc25ec74bad102ef33161fc4afd2b9e",
    "v2-8.9/identifiers.yaml": "50aa20030e5f2e759ddaa891e2220d9d9afeb87c",
    "v2-8.9/incidents.yaml": "943c9b07f243b510e9efc2ff0d0abb391144efa8",
    "v2-8.9/jobs.yaml": "2b320cc29167b9397812c831029073c530b873ae",
    "v2-8.9/keys.yaml": "81f50ee62d30ec98b82bdf7da10d0cf8ac42face",
    "v2-8.9/messages.yaml": "ae33d037765aeb0a283b6b0f951e69c1743e7472",
    "v2-8.9/problem-detail.yaml": "cea306e6137d440496861837119ada92bca61c57",
    "v2-8.9/process-definitions.yaml": "9952725896c14ecf7a172d678c15d791f769c4a4",
    "v2-8.9/process-instances.yaml": "f4b17a2c17f90baa2c5d41ff5ba3e48e8bd081f5",
    "v2-8.9/search-models.yaml": "9371e6d17b94efd00b34d7d8edcd49ab4d1d5026",
    "v2-8.9/user-tasks.yaml": "f176fa7238c0299c1e52858f371544ec6551b8f2",
    "v2-8.9/variables.yaml": "fb404463ea356686e3d8f33b20f379b31c33378e",
}


class Checked:
    """Sends a request to the simulator and validates request and response against a spec."""

    def __init__(self, sim: Simulator, version: str) -> None:
        self.sim = sim
        self.version = version
        self.api = validator(version)
        # Body and parameters only: the specs require credentials that the simulator (auth
        # none) does not ask for.
        self.request_checks = (
            V30RequestBodyValidator(self.api.spec),
            V30RequestParametersValidator(self.api.spec),
        )
        self.http = requests.Session()
        self.validated = 0

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        invalid_request: bool = False,  # a deliberately bad request: only the answer is checked
    ) -> requests.Response:
        data = orjson.dumps(body) if body is not None else None
        sent = {"Content-Type": "application/json"} if data is not None else {}
        response = self.http.request(
            method, self.sim.base_url + path, data=data, headers={**sent, **(headers or {})}
        )
        request = MockRequest(
            SERVER, method.lower(), path, data=data, headers={**sent, **(headers or {})}
        )
        for check in () if invalid_request else self.request_checks:
            check.validate(request)
        content_type = response.headers.get("Content-Type", "").split(";")[0]
        self.api.validate_response(
            request,
            MockResponse(
                response.content, status_code=response.status_code, content_type=content_type
            ),
        )
        self.validated += 1
        return response


@pytest.fixture(scope="module", params=V2_VERSIONS)
def v2(request: pytest.FixtureRequest) -> Iterator[Checked]:
    config = SimulatorConfig(scale=SCALE, seed=11, api="v2", server_version=request.param)
    with Simulator(config) as sim:
        yield Checked(sim, request.param)


@pytest.fixture(scope="module")
def v1() -> Iterator[Checked]:
    with Simulator(SimulatorConfig(scale=SCALE, seed=11, api="v1")) as sim:
        yield Checked(sim, "v1")


# -- the vendored specs and the workarounds ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(UPSTREAM_BLOBS))
def test_vendored_spec_is_the_upstream_file(name: str) -> None:
    assert git_blob_id(SPEC_DIR / name) == UPSTREAM_BLOBS[name]


def test_v1_spec_is_the_8_5_file() -> None:
    # shared/reference/README.md records this copy by its character count (57,127).
    text = (SPEC_DIR / "operate-openapi-8.5.yaml").read_text(encoding="utf-8")
    assert len(text) == 57_127


@pytest.mark.parametrize("version", ["v1", *V2_VERSIONS])
def test_every_workaround_still_finds_its_bug(version: str) -> None:
    # An upstream fix shows up here as 0: then the workaround (and this entry) can go.
    counts = apply_workarounds(load_spec(version, workarounds=False), version)
    assert set(counts) == {fix.__name__ for fix in WORKAROUNDS[version]}
    assert all(n > 0 for n in counts.values()), counts


def test_the_workarounds_are_needed() -> None:
    # The same page fails the unpatched 8.9 spec (explicit nulls beside allOf), so the
    # validation below is not vacuous.
    from openapi_core import OpenAPI
    from openapi_core.validation.response.exceptions import InvalidData

    raw = OpenAPI.from_dict(_without_workarounds_but_compilable("8.9"))
    with Simulator(SimulatorConfig(scale=5, api="v2")) as sim:
        body = orjson.dumps({"page": {"limit": 5}})
        answer = requests.post(sim.base_url + "/v2/process-instances/search", data=body)
        request = MockRequest(SERVER, "post", "/v2/process-instances/search", data=body)
        with pytest.raises(InvalidData):
            raw.validate_response(
                request, MockResponse(answer.content, content_type="application/json")
            )


def _without_workarounds_but_compilable(version: str) -> dict[str, Any]:
    from tests.openapi_workarounds import unicode_property_escapes_in_patterns

    spec = load_spec(version, workarounds=False)
    unicode_property_escapes_in_patterns(spec)  # else the spec cannot even be loaded
    return spec


# -- v1 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(V1_ENDPOINTS))
def test_v1_search_pages_and_gets_conform(v1: Checked, name: str) -> None:
    endpoint = V1_ENDPOINTS[name]
    body: dict[str, Any] = {"size": 50}
    seen: list[dict[str, Any]] = []
    while True:
        page = v1("POST", f"{endpoint.path}/search", body).json()
        seen += page["items"]
        if not page["items"]:
            break
        body["searchAfter"] = page["sortValues"]
    assert len(seen) == len(v1.sim.dataset.records(name)) > 0
    for record in seen[:15]:
        key = record[endpoint.unique_key]
        v1("GET", f"{endpoint.path}/{key}")
        if endpoint.has_xml:
            v1("GET", f"{endpoint.path}/{key}/xml")


def test_v1_filters_sorts_and_errors_conform(v1: Checked) -> None:
    truncated = v1("POST", "/v1/variables/search", {"filter": {"truncated": True}, "size": 100})
    assert truncated.json()["items"] and all(v["truncated"] for v in truncated.json()["items"])
    v1("POST", "/v1/process-instances/search", {"sort": [{"field": "startDate", "order": "DESC"}]})
    assert v1("GET", "/v1/process-instances/1").status_code == 404
    unknown = v1("POST", "/v1/incidents/search", {"filter": {"nope": 1}}, invalid_request=True)
    assert unknown.status_code == 400


# -- v2 ------------------------------------------------------------------------------------------


def _page_to_the_end(v2: Checked, path: str, limit: int, **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page: dict[str, Any] = {"limit": limit}
    while True:
        answer = v2("POST", path, {**query, "page": page}).json()
        items += answer["items"]
        if not answer["items"]:
            return items
        page = {"limit": limit, "after": answer["page"]["endCursor"]}


@pytest.mark.parametrize("name", sorted(V2_ENDPOINTS))
def test_v2_search_pages_and_gets_conform(v2: Checked, name: str) -> None:
    endpoint = V2_ENDPOINTS[name]
    items = _page_to_the_end(v2, f"{endpoint.path}/search", 30)
    assert items == v2.sim.dataset.search_view(name, api="v2") != []
    if not endpoint.has_get:
        return
    for record in items:
        got = v2("GET", f"{endpoint.path}/{record[endpoint.unique_key]}")
        assert got.status_code == 200
    if endpoint.has_xml:
        assert v2("GET", f"{endpoint.path}/{items[0][endpoint.unique_key]}/xml").ok


def test_v2_shapes_follow_the_server_version(v2: Checked) -> None:
    running = v2("POST", "/v2/process-instances/search", {"filter": {"state": "ACTIVE"}}).json()
    first = running["items"][0]
    if v2.version == "8.9":
        assert first["endDate"] is None and "rootProcessInstanceKey" in first
        assert "businessId" in first and first["tags"] == []
    else:
        assert "endDate" not in first and "rootProcessInstanceKey" not in first
        assert "businessId" not in first
    empty = v2("POST", "/v2/jobs/search", {"filter": {"type": "no-such-type"}}).json()["page"]
    if v2.version == "8.9":
        assert empty["startCursor"] is None and empty["endCursor"] is None
    else:  # 8.8's page schema does not allow null cursors
        assert "startCursor" not in empty and "endCursor" not in empty


def test_v2_paging_forms_filters_and_sorts_conform(v2: Checked) -> None:
    search = "/v2/process-definitions/search"
    everything = v2("POST", search, {"page": {"limit": 100}}).json()["items"]
    by_offset = v2("POST", search, {"page": {"from": 3, "limit": 4}}).json()
    assert by_offset["items"] == everything[3:7]
    before = v2("POST", search, {"page": {"before": by_offset["page"]["startCursor"], "limit": 2}})
    assert before.json()["items"] == everything[1:3]
    latest = v2("POST", search, {"filter": {"isLatestVersion": True}}).json()
    assert latest["items"] and "startCursor" not in {
        k for k, v in latest["page"].items() if v is not None
    }
    v2(
        "POST",
        "/v2/process-instances/search",
        {
            "filter": {"elementId": "review", "elementInstanceState": "ACTIVE"},
            "sort": [{"field": "startDate", "order": "DESC"}],
        },
    )
    v2("POST", "/v2/jobs/search", {"sort": [{"field": "retries"}], "page": {"limit": 5}})


def test_v2_errors_are_problem_details(v2: Checked) -> None:
    body = {"filter": {"errorType": "NOT_A_TYPE"}}
    bad = v2("POST", "/v2/incidents/search", body, invalid_request=True)
    assert bad.status_code == 400
    missing = v2("GET", "/v2/process-instances/1")
    assert missing.status_code == 404
    problem = missing.json()
    assert problem["instance"] == "/v2/process-instances/1" and problem["status"] == 404


def test_v2_topology_conforms_to_8_8() -> None:
    # 8.9's topology schema is in a file the reference does not carry (system.yaml).
    with Simulator(SimulatorConfig(scale=1, api="v2", server_version="8.8")) as sim:
        Checked(sim, "8.8")("GET", "/v2/topology")


def test_v2_unauthorized_conforms(make_simulator: Any) -> None:
    for version in V2_VERSIONS:
        sim = make_simulator(scale=1, api="v2", auth="saas", server_version=version)
        answer = Checked(sim, version)("POST", "/v2/jobs/search", {})
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
