"""Dataset shape, relations, hydration-only fields, XML and determinism."""

from __future__ import annotations

import orjson
import requests

from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.simulator import Simulator, SimulatorConfig


def test_every_resource_has_records_with_registry_fields(simulator):
    for name, endpoint in V1_ENDPOINTS.items():
        records = simulator.dataset.records(name)
        assert records, name
        allowed = set(endpoint.field_names)
        for record in records:
            assert set(record) <= allowed, (name, set(record) - allowed)
            assert None not in record.values()


def test_relations_are_consistent(simulator):
    ds = simulator.dataset
    definitions = {r["key"] for r in ds.records("process-definitions")}
    instances = {r["key"]: r for r in ds.records("process-instances")}
    nodes = {r["key"]: r for r in ds.records("flownode-instances")}
    incidents = {r["key"]: r for r in ds.records("incidents")}
    assert all(i["processDefinitionKey"] in definitions for i in instances.values())
    assert all(n["processInstanceKey"] in instances for n in nodes.values())
    for child in (i for i in instances.values() if "parentKey" in i):
        assert child["parentKey"] in instances
        assert nodes[child["parentFlowNodeInstanceKey"]]["type"] == "CALL_ACTIVITY"
    for node in nodes.values():
        if "incidentKey" in node:
            assert (
                incidents[node["incidentKey"]]["processInstanceKey"] == node["processInstanceKey"]
            )
    assert all(v["processInstanceKey"] in instances for v in ds.records("variables"))
    assert all(
        v["scopeKey"] in nodes or v["scopeKey"] in instances for v in ds.records("variables")
    )
    decisions = {d["id"] for d in ds.records("decision-definitions")}
    drds = {d["key"] for d in ds.records("decision-requirements")}
    assert all(d["decisionRequirementsKey"] in drds for d in ds.records("decision-definitions"))
    assert all(d["decisionDefinitionId"] in decisions for d in ds.records("decision-instances"))
    assert {r["tenantId"] for r in instances.values()} == {"<default>", "tenant-a", "tenant-b"}
    share = sum(1 for i in instances.values() if i["incident"]) / len(instances)
    assert 0.01 < share < 0.12


def test_names_carry_unicode_and_quotes(simulator):
    names = {r.get("name", "") for r in simulator.dataset.records("process-definitions")}
    assert any('"' in n for n in names) and any(not n.isascii() for n in names)


def test_variables_truncated_in_search_full_by_key(simulator):
    http = requests.Session()
    with http:
        search = simulator.dataset.search_view("variables")
        cut = [v for v in search if v["truncated"]]
        assert cut and len(cut) < len(search)
        full = {r["key"]: r for r in simulator.dataset.records("variables")}
        for item in cut[:5]:
            assert len(item["value"]) == 128
            got = orjson.loads(http.get(f"{simulator.base_url}/v1/variables/{item['key']}").content)
            assert got == full[item["key"]]
            assert got["truncated"] is False and got["value"].startswith(item["value"])
            orjson.loads(got["value"])  # the full value is valid JSON text


def test_decision_instance_details_only_by_id(simulator):
    with requests.Session() as http:
        body = orjson.loads(
            http.post(
                simulator.base_url + "/v1/decision-instances/search", json={"size": 50}
            ).content
        )
        assert all(
            "evaluatedInputs" not in i and "evaluatedOutputs" not in i for i in body["items"]
        )
        keys = [i["key"] for i in body["items"]]
        assert len(set(keys)) < len(keys)  # one evaluation -> several instances sharing a key
        item = body["items"][0]
        assert item["id"].startswith(f"{item['key']}-")
        full = orjson.loads(
            http.get(f"{simulator.base_url}/v1/decision-instances/{item['id']}").content
        )
        assert full["evaluatedInputs"] and "evaluatedOutputs" in full
        truth = {r["id"]: r for r in simulator.dataset.records("decision-instances")}
        assert full == truth[item["id"]]


def test_xml_endpoints(simulator):
    with requests.Session() as http:
        definition = simulator.dataset.records("process-definitions")[0]
        r = http.get(f"{simulator.base_url}/v1/process-definitions/{definition['key']}/xml")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/xml")
        assert f'id="{definition["bpmnProcessId"]}"' in r.text
        assert r.text == simulator.dataset.xml("process-definitions", definition["key"])
        drd = simulator.dataset.records("decision-requirements")[0]
        r = http.get(f"{simulator.base_url}/v1/drd/{drd['key']}/xml")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/xml")
        assert drd["decisionRequirementsId"] in r.text
        decisions = [
            d
            for d in simulator.dataset.records("decision-definitions")
            if d["decisionRequirementsKey"] == drd["key"]
        ]
        assert decisions and all(d["decisionId"] in r.text for d in decisions)


def test_same_seed_same_bytes_other_seed_differs():
    bodies = []
    for seed in (11, 11, 12):
        with Simulator(SimulatorConfig(scale=150, seed=seed)) as sim, requests.Session() as http:
            bodies.append(
                http.post(
                    sim.base_url + "/v1/flownode-instances/search",
                    json={"size": 1000, "sort": [{"field": "startDate"}]},
                ).content
            )
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]
