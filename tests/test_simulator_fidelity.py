"""Issue 13, one test (or a few) per point: audiences, JWTs, v2 filters, v2 shapes per server
version, paging and error shapes, v1's truncated filter, and what ``simulate`` prints."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests

from exporter.simulator import Simulator, SimulatorConfig
from exporter.simulator.v2 import java_string_hash

SECRET = "fidelity-secret-7d1e"
IDENTITY_PATH = "/auth/realms/camunda-platform/protocol/openid-connect/token"


def token(sim: Simulator, audience: str | None) -> str:
    form = {
        "grant_type": "client_credentials",
        "client_id": sim.config.client_id,
        "client_secret": SECRET,
    }
    if audience is not None:
        form["audience"] = audience
    answer = requests.post(sim.token_url, data=form)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def call(sim: Simulator, api: str, jwt: str) -> requests.Response:
    return requests.post(
        f"{sim.base_url}/{api}/process-definitions/search",
        json={},
        headers={"Authorization": f"Bearer {jwt}"},
    )


# -- 1. audiences ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "audience", "opens"),
    [
        ("saas", "operate.camunda.io", {"v1"}),
        ("saas", "zeebe.camunda.io", {"v2"}),
        ("identity", "operate-api", {"v1", "v2"}),
        ("identity", None, {"v1", "v2"}),  # Keycloak's default: operate-api
        ("identity", "orchestration-api", {"v1", "v2"}),
        ("identity", "zeebe-api", {"v2"}),
    ],
)
def test_a_token_opens_exactly_the_apis_of_its_audience(
    make_simulator: Any, mode: str, audience: str | None, opens: set[str]
) -> None:
    sim = make_simulator(scale=3, api="both", auth=mode, client_secret=SECRET)
    jwt = token(sim, audience)
    for api in ("v1", "v2"):
        answer = call(sim, api, jwt)
        if api in opens:
            assert answer.status_code == 200, (api, answer.text)
        else:
            assert answer.status_code == 401
            challenge = answer.headers["WWW-Authenticate"]
            assert challenge.startswith('Bearer error="invalid_token"') and "audience" in challenge


def test_unknown_audiences_get_no_token(make_simulator: Any) -> None:
    for mode in ("saas", "identity"):
        sim = make_simulator(scale=1, auth=mode, client_secret=SECRET)
        form = {
            "grant_type": "client_credentials",
            "client_id": "operate-export",
            "client_secret": SECRET,
            "audience": "tasklist.camunda.io",
        }
        assert requests.post(sim.token_url, data=form).status_code in (400, 401)


# -- 2. JWTs --------------------------------------------------------------------------------------


def test_tokens_are_signed_jwts_with_exp_aud_iat_sub(make_simulator: Any) -> None:
    sim = make_simulator(scale=1, api="v2", auth="saas", client_secret=SECRET, token_ttl=120)
    jwt = token(sim, "zeebe.camunda.io")
    header = orjson.loads(base64.urlsafe_b64decode(jwt.split(".")[0] + "=="))
    assert header["alg"] == "HS256" and header["typ"] == "JWT"
    body = claims(jwt)
    assert body["aud"] == "zeebe.camunda.io" and body["sub"] == "operate-export"
    assert body["exp"] - body["iat"] == 120 and isinstance(body["iat"], int)
    assert call(sim, "v2", jwt).status_code == 200
    # A token whose claims were changed (here: a later exp) no longer carries a valid signature.
    forged_claims = base64.urlsafe_b64encode(orjson.dumps({**body, "exp": body["exp"] + 999}))
    head, _, signature = jwt.split(".")
    forged = f"{head}.{forged_claims.decode().rstrip('=')}.{signature}"
    refused = call(sim, "v2", forged)
    assert refused.status_code == 401 and refused.json()["title"] == "Unauthorized"


# -- 3. v2 filters --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def v2() -> Iterator[Simulator]:
    with Simulator(SimulatorConfig(scale=120, seed=3, api="v2", server_version="8.9")) as sim:
        yield sim


def search(sim: Simulator, resource: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{sim.base_url}/v2/{resource}/search", json=body)


def everything(sim: Simulator, resource: str, filter_doc: dict[str, Any]) -> list[dict[str, Any]]:
    answer = search(sim, resource, {"filter": filter_doc, "page": {"limit": 10_000}})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def keys(items: list[dict[str, Any]], field: str) -> list[str]:
    return [item[field] for item in items]


@pytest.mark.parametrize(
    ("resource", "name", "id_field", "key"),
    [
        (
            "process-definitions",
            "process-definitions",
            "processDefinitionId",
            "processDefinitionKey",
        ),
        (
            "decision-definitions",
            "decision-definitions",
            "decisionDefinitionId",
            "decisionDefinitionKey",
        ),
    ],
)
def test_is_latest_version_true_and_false(
    v2: Simulator, resource: str, name: str, id_field: str, key: str
) -> None:
    truth = v2.dataset.search_view(name, api="v2")
    latest = {}
    for record in truth:
        group = (record[id_field], record["tenantId"])
        latest[group] = max(latest.get(group, 0), record["version"])
    newest = [r[key] for r in truth if r["version"] == latest[(r[id_field], r["tenantId"])]]
    older = [r[key] for r in truth if r[key] not in newest]
    assert keys(everything(v2, resource, {"isLatestVersion": True}), key) == newest != []
    assert keys(everything(v2, resource, {"isLatestVersion": False}), key) == older != []


def test_process_definition_state(v2: Simulator) -> None:
    all_definitions = v2.dataset.search_view("process-definitions", api="v2")
    assert len(everything(v2, "process-definitions", {"state": "ACTIVE"})) == len(all_definitions)
    assert everything(v2, "process-definitions", {"state": "DELETED"}) == []


def test_decision_instances_by_decision_requirements_key(v2: Simulator) -> None:
    definitions = v2.dataset.search_view("decision-definitions", api="v2")
    drd = definitions[0]["decisionRequirementsKey"]
    in_drd = {
        d["decisionDefinitionKey"] for d in definitions if d["decisionRequirementsKey"] == drd
    }
    got = everything(v2, "decision-instances", {"decisionRequirementsKey": drd})
    assert got and all(d["decisionDefinitionKey"] in in_drd for d in got)
    expected = [
        d
        for d in v2.dataset.search_view("decision-instances", api="v2")
        if d["decisionDefinitionKey"] in in_drd
    ]
    assert got == expected


def test_process_instances_by_incident_error_message_and_hash_code(v2: Simulator) -> None:
    active = [i for i in v2.dataset.search_view("incidents", api="v2") if i["state"] == "ACTIVE"]
    message = active[0]["errorMessage"]
    with_it = sorted({i["processInstanceKey"] for i in active if i["errorMessage"] == message})
    by_message = keys(
        everything(v2, "process-instances", {"errorMessage": message}), "processInstanceKey"
    )
    assert sorted(by_message, key=int) == sorted(with_it, key=int) != []
    by_hash = everything(
        v2, "process-instances", {"incidentErrorHashCode": java_string_hash(message)}
    )
    assert keys(by_hash, "processInstanceKey") == by_message
    like = everything(v2, "process-instances", {"errorMessage": {"$like": "*retries*"}})
    assert like and all(p["hasIncident"] for p in like)


def test_java_string_hash_matches_java() -> None:
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322  # "hello".hashCode() in Java
    assert java_string_hash("Hello World") == -862545276
    # UTF-16 code units: a character outside the BMP counts as its two surrogates.
    assert java_string_hash("\U0001f600") == 31 * 0xD83D + 0xDE00


def test_process_instances_with_jobs_that_have_retries_left(v2: Simulator) -> None:
    jobs = v2.dataset.search_view("jobs", api="v2")
    retrying = {j["processInstanceKey"] for j in jobs if j["hasFailedWithRetriesLeft"]}
    yes = keys(everything(v2, "process-instances", {"hasRetriesLeft": True}), "processInstanceKey")
    no = keys(everything(v2, "process-instances", {"hasRetriesLeft": False}), "processInstanceKey")
    assert set(yes) == retrying != set() and not set(no) & retrying
    assert len(yes) + len(no) == len(v2.dataset.search_view("process-instances", api="v2"))


def test_element_filters_hold_on_one_element_instance(v2: Simulator) -> None:
    elements = v2.dataset.search_view("flownode-instances", api="v2")

    def instances(test: Any) -> list[str]:
        found = {e["processInstanceKey"] for e in elements if test(e)}
        return sorted(found, key=int)

    waiting = instances(lambda e: e["elementId"] == "review" and e["state"] == "ACTIVE")
    got = everything(
        v2, "process-instances", {"elementId": "review", "elementInstanceState": "ACTIVE"}
    )
    assert keys(got, "processInstanceKey") == waiting != []
    # Not the same as "has a review element" AND "has an active element" (on other elements).
    loose = set(instances(lambda e: e["elementId"] == "review")) & set(
        instances(lambda e: e["state"] == "ACTIVE")
    )
    assert set(waiting) < loose
    failing = everything(
        v2, "process-instances", {"hasElementInstanceIncident": True, "elementId": "check-stock"}
    )
    assert (
        keys(failing, "processInstanceKey")
        == instances(lambda e: e["hasIncident"] and e["elementId"] == "check-stock")
        != []
    )
    in_or = everything(
        v2,
        "process-instances",
        {
            "$or": [
                {"elementId": "review", "elementInstanceState": "ACTIVE"},
                {"state": "TERMINATED"},
            ]
        },
    )
    terminated = {
        p["processInstanceKey"]
        for p in v2.dataset.search_view("process-instances", api="v2")
        if p["state"] == "TERMINATED"
    }
    assert set(keys(in_or, "processInstanceKey")) == set(waiting) | terminated


def test_element_instances_by_scope_key(v2: Simulator) -> None:
    instance = v2.dataset.search_view("process-instances", api="v2")[0]["processInstanceKey"]
    got = everything(v2, "element-instances", {"elementInstanceScopeKey": instance})
    truth = [
        e
        for e in v2.dataset.search_view("flownode-instances", api="v2")
        if e["processInstanceKey"] == instance
    ]
    assert got == truth != []


@pytest.mark.parametrize("name", ["batchOperationId", "batchOperationKey"])
def test_filters_the_simulator_cannot_answer_are_refused(v2: Simulator, name: str) -> None:
    answer = search(v2, "process-instances", {"filter": {name: "123"}})
    assert answer.status_code == 400 and name in answer.json()["detail"]
    nested = search(v2, "process-instances", {"filter": {"$or": [{name: "1"}]}})
    assert nested.status_code == 400 and f"$or[0].{name}" in nested.json()["detail"]


# -- 4. v2 shapes ---------------------------------------------------------------------------------


def test_8_9_shape_explicit_nulls_and_required_values(v2: Simulator) -> None:
    view = v2.dataset.search_view
    incidents = view("incidents", api="v2")
    assert all(i["elementId"] and i["elementInstanceKey"] for i in incidents)
    assert any(i["state"] == "RESOLVED" for i in incidents)  # they have their element too
    assert any(i["jobKey"] is None for i in incidents)
    jobs = view("jobs", api="v2")
    created = [j for j in jobs if j["state"] == "CREATED"]
    assert created and all(j["worker"] == "" and j["endTime"] is None for j in created)
    assert all(j["creationTime"] and j["lastUpdateTime"] for j in jobs)
    unnamed = [
        p for p in view("process-instances", api="v2") if p["processDefinitionId"] == "shipping"
    ]
    assert unnamed and all(p["processDefinitionName"] == "shipping" for p in unnamed)
    definitions = view("process-definitions", api="v2")
    assert {d["state"] for d in definitions} == {"ACTIVE"}
    assert any(d["name"] is None for d in definitions)  # unnamed: nullable
    failed = [d for d in view("decision-instances", api="v2") if d["state"] == "FAILED"]
    assert failed and all(d["result"] == "null" and d["evaluationFailure"] for d in failed)
    key = view("decision-instances", api="v2")[0]["decisionEvaluationInstanceKey"]
    detail = requests.get(f"{v2.base_url}/v2/decision-instances/{key}").json()
    for rule in detail["matchedRules"]:
        assert all(
            out["ruleId"] == rule["ruleId"] and out["ruleIndex"] == rule["ruleIndex"]
            for out in rule["evaluatedOutputs"]
        )
    called = [p for p in view("process-instances", api="v2") if p["parentProcessInstanceKey"]]
    assert called and all(
        p["rootProcessInstanceKey"] == p["parentProcessInstanceKey"] for p in called
    )


def test_8_8_shape_leaves_nulls_and_8_9_fields_out(make_simulator: Any) -> None:
    sim = make_simulator(scale=30, api="v2", server_version="8.8")
    records = sim.dataset.search_view("jobs", api="v2") + sim.dataset.search_view(
        "process-instances", api="v2"
    )
    assert all(None not in r.values() for r in records)
    assert not any("rootProcessInstanceKey" in r or "creationTime" in r for r in records)
    topology = requests.get(sim.base_url + "/v2/topology").json()
    assert topology["gatewayVersion"] == "8.8.0" and "clusterId" not in topology
    assert topology["partitionsCount"] == 6 and topology["brokers"][0]["partitions"]


# -- 5. paging and errors -------------------------------------------------------------------------


def test_offset_and_backward_pages(v2: Simulator) -> None:
    truth = v2.dataset.search_view("variables", api="v2")
    offset = search(v2, "variables", {"page": {"from": 10, "limit": 5}}).json()
    assert offset["items"] == truth[10:15]
    back = search(v2, "variables", {"page": {"before": offset["page"]["startCursor"], "limit": 4}})
    assert back.json()["items"] == truth[6:10]
    mixed = search(v2, "variables", {"page": {"from": 1, "after": offset["page"]["endCursor"]}})
    assert mixed.status_code == 400 and "page" in mixed.json()["detail"]


def test_jobs_sorted_by_has_failed_with_retries_left_on_8_9_only(
    v2: Simulator, make_simulator: Any
) -> None:
    body = {
        "sort": [{"field": "hasFailedWithRetriesLeft", "order": "DESC"}],
        "page": {"limit": 500},
    }
    items = search(v2, "jobs", body).json()["items"]
    flags = [j["hasFailedWithRetriesLeft"] for j in items]
    assert flags == sorted(flags, reverse=True) and True in flags and False in flags
    old = make_simulator(scale=5, api="v2", server_version="8.8")
    refused = search(old, "jobs", body)
    assert refused.status_code == 400 and "hasFailedWithRetriesLeft" in refused.json()["detail"]


def test_v2_routes_and_problem_instances(v2: Simulator) -> None:
    unknown = requests.get(v2.base_url + "/v2/no-such-thing")
    assert unknown.status_code == 404 and unknown.json()["instance"] == "/v2/no-such-thing"
    assert requests.get(v2.base_url + "/v2/process-instances").status_code == 404
    assert requests.get(v2.base_url + "/v2/jobs/123").status_code == 404  # no GET by key
    wrong_method = requests.get(v2.base_url + "/v2/incidents/search")
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"
    bad = search(v2, "incidents", {"filter": {"nope": 1}})
    assert bad.json()["instance"] == "/v2/incidents/search"
    assert bad.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("mode", ["saas", "basic", "cookie"])
def test_v2_auth_errors_are_problem_details(make_simulator: Any, mode: str) -> None:
    sim = make_simulator(scale=1, api="both", auth=mode)
    for api in ("v1", "v2"):
        answer = requests.post(
            f"{sim.base_url}/{api}/jobs/search"
            if api == "v2"
            else f"{sim.base_url}/v1/incidents/search",
            json={},
        )
        assert answer.status_code == 401
        if api == "v2":
            problem = answer.json()
            assert problem["title"] == "Unauthorized" and problem["status"] == 401
            assert problem["instance"] == "/v2/jobs/search" and problem["type"] == "about:blank"
            assert answer.headers["Content-Type"] == "application/problem+json"
        else:
            assert set(answer.json()) == {"message"}
        if mode == "saas":
            assert answer.headers["WWW-Authenticate"] == "Bearer"
        elif mode == "basic":
            assert answer.headers["WWW-Authenticate"].startswith("Basic")


# -- 6. v1 ----------------------------------------------------------------------------------------


def test_v1_variables_filtered_by_truncated(make_simulator: Any) -> None:
    sim = make_simulator(scale=40)
    view = sim.dataset.search_view("variables")
    for flag in (True, False):
        answer = requests.post(
            sim.base_url + "/v1/variables/search",
            json={"filter": {"truncated": flag}, "size": 1000},
        ).json()
        expected = [v for v in view if v["truncated"] is flag]
        assert answer["items"] == expected != []


# -- issue 11 point 8 and --server-version: what simulate prints -----------------------------------


def test_simulate_prints_the_client_id_never_the_secret() -> None:
    env = {**os.environ, "SIM_EXIT_AFTER": "0.5", "SIM_CLIENT_SECRET": SECRET}
    command = [
        sys.executable, "-m", "exporter", "simulate", "--port", "0", "--scale", "2",
        "--auth", "saas", "--api", "v2", "--server-version", "8.8", "--client-id", "my-client",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "client id 'my-client'" in done.stdout and "token URL:" in done.stdout
    assert "zeebe.camunda.io" in done.stdout and "Camunda 8.8" in done.stdout
    assert SECRET not in done.stdout + done.stderr


def test_unknown_server_version_is_refused() -> None:
    with pytest.raises(ValueError, match="server_version"):
        Simulator(SimulatorConfig(scale=1, server_version="8.7"))
