"""Camunda's own Python client agrees with the simulator, and so does the exporter's default auth.

``camunda-orchestration-sdk`` parses every answer into its generated models, which refuse a
missing required field (``MissingRequiredFieldError``) or an enum value they do not know; with
``raise_on_unexpected_status`` an undocumented status raises too. Its major version follows the
Camunda minor it was generated for (9.x: 8.9), so it runs against the simulator's 8.9 shape. Every
v2 search is paged to its end with ``after`` cursors in the client's three auth strategies (none,
basic, OAuth against the SaaS and the Identity token endpoints), and every record with a GET
endpoint is fetched by key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from camunda_orchestration_sdk import CamundaClient
from camunda_orchestration_sdk import models as sdk

from exporter.api.v2.registry import V2_ENDPOINTS
from exporter.api.validation import parse_spec_text
from exporter.pipeline.runner import RunOptions, run_job
from exporter.simulator import Simulator, SimulatorConfig
from tests.test_runner import read_snapshot

SCALE = 30
LIMIT = 7  # small pages: many cursors per search
# export -> (search method, query model, get method or None)
SEARCHES: dict[str, tuple[str, type, str | None]] = {
    "process-definitions": (
        "search_process_definitions",
        sdk.ProcessDefinitionSearchQuery,
        "get_process_definition",
    ),
    "process-instances": (
        "search_process_instances",
        sdk.ProcessInstanceSearchQuery,
        "get_process_instance",
    ),
    "flownode-instances": (
        "search_element_instances",
        sdk.ElementInstanceSearchQuery,
        "get_element_instance",
    ),
    "incidents": ("search_incidents", sdk.IncidentSearchQuery, "get_incident"),
    "variables": ("search_variables", sdk.VariableSearchQuery, "get_variable"),
    "decision-definitions": (
        "search_decision_definitions",
        sdk.DecisionDefinitionSearchQuery,
        "get_decision_definition",
    ),
    "decision-requirements": (
        "search_decision_requirements",
        sdk.DecisionRequirementsSearchQuery,
        "get_decision_requirements",
    ),
    "decision-instances": (
        "search_decision_instances",
        sdk.DecisionInstanceSearchQuery,
        "get_decision_instance",
    ),
    "user-tasks": ("search_user_tasks", sdk.UserTaskSearchQuery, "get_user_task"),
    "jobs": ("search_jobs", sdk.JobSearchQuery, None),
}
AUTH_MODES = ("none", "basic", "saas", "identity")


@pytest.fixture(autouse=True)
def _no_camunda_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The client reads CAMUNDA_* / ZEEBE_* from the environment; the test sets everything.
    import os

    for name in list(os.environ):
        if name.startswith(("CAMUNDA_", "ZEEBE_")):
            monkeypatch.delenv(name)


def client_for(sim: Simulator) -> CamundaClient:
    config: dict[str, Any] = {"CAMUNDA_REST_ADDRESS": sim.base_url}
    mode = sim.config.auth
    if mode == "none":
        config["CAMUNDA_AUTH_STRATEGY"] = "NONE"
    elif mode == "basic":
        config |= {
            "CAMUNDA_AUTH_STRATEGY": "BASIC",
            "CAMUNDA_BASIC_AUTH_USERNAME": sim.config.username,
            "CAMUNDA_BASIC_AUTH_PASSWORD": sim.config.password,
        }
    else:
        config |= {
            "CAMUNDA_AUTH_STRATEGY": "OAUTH",
            "CAMUNDA_CLIENT_ID": sim.config.client_id,
            "CAMUNDA_CLIENT_SECRET": sim.config.client_secret,
            "CAMUNDA_OAUTH_URL": sim.token_url,
            "CAMUNDA_TOKEN_DISK_CACHE_DISABLE": True,
        }
        if mode == "identity":  # the client's default audience is SaaS's zeebe.camunda.io
            config["CAMUNDA_TOKEN_AUDIENCE"] = "zeebe-api"
    return CamundaClient(configuration=config, raise_on_unexpected_status=True)


@pytest.fixture(scope="module", params=AUTH_MODES)
def session(request: pytest.FixtureRequest) -> Iterator[tuple[Simulator, CamundaClient]]:
    mode = request.param
    config = SimulatorConfig(scale=SCALE, seed=5, api="v2", auth=mode, server_version="8.9")
    with Simulator(config) as sim:
        client = client_for(sim)
        try:
            yield sim, client
        finally:
            client.close()


def page_to_the_end(client: CamundaClient, name: str) -> tuple[list[Any], int, set[int]]:
    """-> (items, pages asked, totalItems reported)."""
    method, query_model, _get = SEARCHES[name]
    search = getattr(client, method)
    items: list[Any] = []
    pages = 0
    totals: set[int] = set()
    page: Any = sdk.LimitBasedPagination(limit=LIMIT)
    while True:
        result = search(data=query_model(page=page))
        pages += 1
        totals.add(result.page.total_items)
        items += result.items
        if not result.items:
            return items, pages, totals
        page = sdk.CursorBasedForwardPagination(after=result.page.end_cursor, limit=LIMIT)


def test_every_search_covers_every_v2_export() -> None:
    assert set(SEARCHES) == set(V2_ENDPOINTS)


@pytest.mark.parametrize("name", sorted(SEARCHES))
def test_official_client_pages_every_search_to_the_end_and_gets_by_key(
    session: tuple[Simulator, CamundaClient], name: str
) -> None:
    sim, client = session
    endpoint = V2_ENDPOINTS[name]
    items, pages, totals = page_to_the_end(client, name)
    truth = sim.dataset.search_view(name, api="v2")
    assert totals == {len(truth)}
    got_keys = [item.to_dict()[endpoint.unique_key] for item in items]
    assert got_keys == [record[endpoint.unique_key] for record in truth] != []
    assert pages == -(-len(truth) // LIMIT) + 1  # full pages plus the empty one at the end
    get_method = SEARCHES[name][2]
    if get_method is None:
        return
    get = getattr(client, get_method)
    for key in got_keys:
        assert get(key).to_dict()[endpoint.unique_key] == key


def test_official_client_reads_the_topology(session: tuple[Simulator, CamundaClient]) -> None:
    sim, client = session
    topology = client.get_topology()
    assert topology.gateway_version == "8.9.0" and topology.partitions_count == 6
    if sim.config.auth in ("saas", "identity"):
        assert sim.stats()["tokens_issued"] >= 1  # the client really went through OAuth


# -- the exporter with its default audiences ---------------------------------------------------


@pytest.mark.parametrize("mode", ["saas", "identity"])
def test_exporter_v2_runs_with_its_default_audience(
    make_simulator: Any, tmp_path: Path, mode: str
) -> None:
    sim = make_simulator(scale=12, api="v2", auth=mode)
    text = f"""version: 1
source:
  base_url: "{sim.base_url}"
  api: v2
  auth: {{mode: {mode}, client_id: operate-export, client_secret: sim-client-secret,
          token_url: "{sim.token_url}"}}
exports:
  - {{endpoint: process-instances, page_size: 5}}
output: {{format: jsonl, path: "{tmp_path / "out"}"}}
"""
    spec = parse_spec_text(text)
    expected = "zeebe.camunda.io" if mode == "saas" else "operate-api"
    assert spec.source.auth.audience == expected  # the default, nothing set in the spec
    result = run_job(spec, RunOptions())
    assert result.ok, [r.error for r in result.failed]
    records = read_snapshot(result.exports[0].location)
    assert records == sim.dataset.records("process-instances", api="v2")
    assert sim.stats()["tokens_issued"] >= 1
