"""Issue 8: v2 exports against the simulator's v2 view yield exactly the expected records.

Per endpoint (the eight v1 exports under their v1 names plus user-tasks and jobs): the records
on disk equal the simulator's hydrated v2 truth; filters (ranges, $in, $like, variables), sorts,
faults (429, 503/500 RESOURCE_EXHAUSTED), auth, Parquet types (string keys -> exact int64,
RFC 3339 -> timestamp[ms, UTC], decisionEvaluationInstanceKey a string). Small scales only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from exporter.pipeline.runner import RunOptions, run_job
from exporter.simulator import FaultConfig, Simulator, SimulatorConfig
from exporter.spec import AuthSpec, ExportSpec, JobSpec, OutputSpec, RetrySpec, SortSpec, SourceSpec
from tests.test_runner import by_name, read_snapshot

FAST_RETRY = RetrySpec(max_attempts=8, initial_backoff_seconds=0.0, max_backoff_seconds=0.0)
SCALE = 60


def v2_job(
    base_url: str,
    out: Path,
    *exports: ExportSpec,
    fmt: str = "jsonl",
    auth: AuthSpec | None = None,
    api: str = "v2",
) -> JobSpec:
    return JobSpec(
        source=SourceSpec(
            base_url=base_url,
            api=api,
            retry=FAST_RETRY,
            auth=auth or AuthSpec(),
            timeout_seconds=10,
        ),
        exports=exports,
        output=OutputSpec(format=fmt, path=str(out)),
        concurrency=3,
        hydration_concurrency=4,
        digest="test",
    )


@pytest.fixture(scope="module")
def sim() -> Any:
    with Simulator(
        SimulatorConfig(scale=SCALE, seed=11, api="v2", variable_threshold=40)
    ) as running:
        yield running


def truth(sim: Simulator, name: str, xml_field: str | None = None) -> list[dict[str, Any]]:
    records = sim.dataset.records(name, api="v2")
    if xml_field:
        for record in records:
            key = next(iter(record.values()))
            if name == "decision-definitions":
                key = record["decisionRequirementsKey"]
                text = sim.dataset.xml("decision-requirements", int(key))
            else:
                text = sim.dataset.xml(name, int(key))
            record[xml_field] = text
    return records


ALL_TEN = (
    ExportSpec(endpoint="process-definitions", name="pd", page_size=4, include_xml=True),
    ExportSpec(endpoint="process-instances", name="pi", page_size=7),
    ExportSpec(endpoint="incidents", name="inc", page_size=2),
    ExportSpec(endpoint="flownode-instances", name="fni", page_size=50),
    ExportSpec(endpoint="variables", name="var", page_size=33),
    ExportSpec(endpoint="decision-definitions", name="dd", page_size=3, include_xml=True),
    ExportSpec(endpoint="decision-requirements", name="drd", page_size=2, include_xml=True),
    ExportSpec(
        endpoint="decision-instances", name="di", page_size=6, include_evaluation_details=True
    ),
    ExportSpec(endpoint="user-tasks", name="ut", page_size=5),
    ExportSpec(endpoint="jobs", name="jobs", page_size=9),
)
XML = {"pd": "bpmnXml", "dd": "dmnXml", "drd": "dmnXml"}


def test_every_v2_endpoint_exports_exactly_the_truth(sim: Simulator, tmp_path: Path) -> None:
    result = run_job(v2_job(sim.base_url, tmp_path, *ALL_TEN), RunOptions())
    assert result.ok, [r.error for r in result.failed]
    results = by_name(result)
    for export in ALL_TEN:
        r = results[export.name]
        expected = truth(sim, export.endpoint, XML.get(export.name))
        assert expected, export.name  # the simulator has data for every endpoint
        assert read_snapshot(r.location) == expected, export.name
        # Many page boundaries: short last page ends the loop, no extra empty request.
        assert r.pages == len(expected) // export.page_size + 1, export.name
    # v2 wire values are kept in JSONL: keys are strings, dates RFC 3339 Z, v2 names.
    pi = read_snapshot(results["pi"].location)[0]
    assert isinstance(pi["processInstanceKey"], str) and pi["startDate"].endswith("Z")
    assert "bpmnProcessId" not in pi and "processDefinitionId" in pi
    var = read_snapshot(results["var"].location)
    long_values = [v for v in var if len(v["value"]) > 40]
    assert long_values and all(v["isTruncated"] is False for v in long_values)
    di = read_snapshot(results["di"].location)
    assert all("matchedRules" in d and "evaluatedInputs" in d for d in di)


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_date_range_in_like_and_variable_filters(sim: Simulator, tmp_path: Path) -> None:
    pis = sim.dataset.records("process-instances", api="v2")
    starts = sorted(_ms(p["startDate"]) for p in pis)
    low, high = starts[len(starts) // 4], starts[3 * len(starts) // 4]
    iso = [datetime.fromtimestamp(t / 1000, UTC).isoformat() for t in (low, high)]
    keys = [p["processInstanceKey"] for p in pis[:5]]
    exports = (
        ExportSpec(
            endpoint="process-instances",
            name="range",
            page_size=4,
            filter={"startDate": {"$gte": iso[0], "$lt": iso[1]}},
        ),
        ExportSpec(
            endpoint="process-instances",
            name="in",
            page_size=2,
            filter={"processInstanceKey": {"$in": [int(k) for k in keys]}},
        ),
        ExportSpec(
            endpoint="process-instances",
            name="like",
            filter={"processDefinitionId": {"$like": "ord*"}, "state": {"$neq": "TERMINATED"}},
        ),
        ExportSpec(
            endpoint="process-instances",
            name="running",
            filter={"endDate": {"$exists": False}},
        ),
        ExportSpec(
            endpoint="process-instances",
            name="customer",
            filter={"variables": [{"name": "customer", "value": {"$like": '"Zo*'}}]},
        ),
        ExportSpec(endpoint="user-tasks", name="finance", filter={"candidateGroup": "finance"}),
    )
    result = run_job(v2_job(sim.base_url, tmp_path, *exports), RunOptions())
    assert result.ok, [r.error for r in result.failed]
    got = {name: read_snapshot(r.location) for name, r in by_name(result).items()}
    # Independent of the simulator's filter code: plain Python over the truth.
    assert got["range"] == [p for p in pis if low <= _ms(p["startDate"]) < high]
    assert len(got["range"]) >= len(pis) // 2 - 1
    assert got["in"] == pis[:5]
    assert got["like"] == [
        p for p in pis if p["processDefinitionId"].startswith("ord") and p["state"] != "TERMINATED"
    ]
    assert got["running"] == [p for p in pis if p.get("endDate") is None] != []
    customers = {
        v["processInstanceKey"]
        for v in sim.dataset.records("variables", api="v2")
        if v["name"] == "customer"
    }
    assert got["customer"] == [p for p in pis if p["processInstanceKey"] in customers] != []
    tasks = sim.dataset.records("user-tasks", api="v2")
    assert got["finance"] == [t for t in tasks if "finance" in t["candidateGroups"]] != []


def test_sorts_including_user_tasks_whose_key_is_not_sortable(
    sim: Simulator, tmp_path: Path
) -> None:
    exports = (
        ExportSpec(
            endpoint="flownode-instances",
            name="fni-desc",
            page_size=17,
            sort=(SortSpec("startDate", "DESC"),),
        ),
        ExportSpec(
            endpoint="user-tasks", name="ut-due", page_size=3, sort=(SortSpec("dueDate", "ASC"),)
        ),
        ExportSpec(endpoint="jobs", name="jobs-state", page_size=4, sort=(SortSpec("state"),)),
    )
    result = run_job(v2_job(sim.base_url, tmp_path, *exports), RunOptions())
    assert result.ok, [r.error for r in result.failed]
    got = {name: read_snapshot(r.location) for name, r in by_name(result).items()}
    fni = sim.dataset.records("flownode-instances", api="v2")
    expected = sorted(fni, key=lambda n: int(n["elementInstanceKey"]))
    expected.sort(key=lambda n: n["startDate"], reverse=True)  # stable: key ASC within a date
    assert got["fni-desc"] == expected
    tasks = sim.dataset.records("user-tasks", api="v2")
    with_due = sorted((t for t in tasks if t.get("dueDate")), key=lambda t: t["dueDate"])
    assert got["ut-due"] == with_due + [t for t in tasks if not t.get("dueDate")]  # nulls last
    jobs = sim.dataset.records("jobs", api="v2")
    assert got["jobs-state"] == sorted(jobs, key=lambda j: j["state"])


@pytest.mark.parametrize("kind", ["rate_429", "rate_503", "rate_500"])
def test_backpressure_is_retried_and_the_records_stay_exact(
    make_simulator: Any, tmp_path: Path, kind: str
) -> None:
    sim = make_simulator(scale=30, seed=3, api="v2")
    sim.set_faults(FaultConfig(**{kind: 0.3, "retry_after": 0}))
    exports = (
        ExportSpec(endpoint="variables", name="var", page_size=8),
        ExportSpec(
            endpoint="decision-instances", name="di", page_size=3, include_evaluation_details=True
        ),
    )
    result = run_job(v2_job(sim.base_url, tmp_path, *exports), RunOptions())
    assert result.ok, [r.error for r in result.failed]
    injected = sum(sim.stats()["faults"].values())
    assert injected > 3
    assert sum(r.retries for r in result.exports) == injected
    for export in exports:
        got = read_snapshot(by_name(result)[export.name].location)
        assert got == sim.dataset.records(export.endpoint, api="v2")


def test_fatal_problem_details_reach_the_user(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=5, api="v2")
    # Valid for the exporter (8.8 set) but sent to a path whose search refuses the sort:
    # userTaskKey is not in the user-task sort enum; the server's title/detail must show.
    bad = ExportSpec(endpoint="user-tasks", name="ut", sort=(SortSpec("userTaskKey"),))
    result = run_job(v2_job(sim.base_url, tmp_path, bad), RunOptions())
    (failed,) = result.failed
    assert "HTTP 400" in failed.error and "userTaskKey" in failed.error
    assert "server says: INVALID_ARGUMENT: " in failed.error  # problem+json title and detail


@pytest.mark.parametrize("mode", ["basic", "saas", "identity", "none"])
def test_v2_auth_modes(make_simulator: Any, tmp_path: Path, mode: str) -> None:
    sim = make_simulator(scale=8, api="v2", auth=mode)
    if mode == "basic":
        auth = AuthSpec(mode="basic", username="demo", password="demo")
    elif mode == "none":
        auth = AuthSpec()
    else:
        auth = AuthSpec(
            mode=mode,
            client_id="operate-export",
            client_secret="sim-client-secret",
            token_url=sim.token_url,
            audience="zeebe.camunda.io" if mode == "saas" else "operate-api",  # v2's audience
        )
    export = ExportSpec(endpoint="jobs", name="jobs", page_size=5)
    result = run_job(v2_job(sim.base_url, tmp_path, export, auth=auth), RunOptions())
    assert result.ok, [r.error for r in result.failed]
    assert read_snapshot(result.exports[0].location) == sim.dataset.records("jobs", api="v2")


def test_parquet_types_keys_int64_dates_timestamps_decision_key_string(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(scale=40, seed=9, api="v2")
    exports = (
        ExportSpec(endpoint="process-instances", name="pi", page_size=9),
        ExportSpec(
            endpoint="decision-instances", name="di", page_size=4, include_evaluation_details=True
        ),
        ExportSpec(endpoint="user-tasks", name="ut", page_size=4),
    )
    result = run_job(v2_job(sim.base_url, tmp_path, *exports, fmt="parquet"), RunOptions())
    assert result.ok, [r.error for r in result.failed]
    tables = {
        r.name: pq.read_table(sorted(Path(r.location).glob("part-*.parquet")))
        for r in result.exports
    }
    pi = tables["pi"]
    assert str(pi.schema.field("processInstanceKey").type) == "int64"
    assert str(pi.schema.field("startDate").type) == "timestamp[ms, tz=UTC]"
    truth_pi = sim.dataset.records("process-instances", api="v2")
    keys = pi.column("processInstanceKey").to_pylist()
    assert keys == [int(p["processInstanceKey"]) for p in truth_pi]
    assert max(keys) >= 2**53  # partitions > 4 give keys beyond float precision: still exact
    starts = pi.column("startDate").to_pylist()
    assert [_ms(p["startDate"]) for p in truth_pi] == [int(s.timestamp() * 1000) for s in starts]
    di = tables["di"]
    assert str(di.schema.field("decisionEvaluationInstanceKey").type) == "string"
    assert str(di.schema.field("decisionEvaluationKey").type) == "int64"
    assert "matchedRules" in di.schema.names
    truth_di = sim.dataset.records("decision-instances", api="v2")
    assert di.column("decisionEvaluationInstanceKey").to_pylist() == [
        d["decisionEvaluationInstanceKey"] for d in truth_di
    ]
    assert di.column("evaluatedInputs").to_pylist() == [d["evaluatedInputs"] for d in truth_di]
    ut = tables["ut"]
    assert str(ut.schema.field("candidateGroups").type) in (
        "list<item: string>",
        "list<element: string>",
    )
    assert ut.column("customHeaders").to_pylist()[0].startswith("{")
