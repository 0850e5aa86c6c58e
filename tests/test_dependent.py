"""Dependent exports (issue 16): a child export runs on the records its parent writes in the
same run, and the two snapshots are committed together.

Against the simulator on v1 and v2: every child snapshot holds exactly the simulator's children
of the parent's keys (across parent pages, batches and child pages; parents with no children and
with more than one page of them); the number of child searches is the plan's (v2 one ``$in``
search per batch where the field takes it, v1 one per parent key, each plus its extra pages); a
failing child or parent leaves neither snapshot committed; spec mistakes are named."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from exporter import load_spec, run_job
from exporter.api import get_dialect, get_endpoint
from exporter.errors import SpecError, UsageError
from exporter.pipeline.interrupt import StopFlag
from exporter.pipeline.progress import QuietReporter
from exporter.pipeline.results import RunOptions
from exporter.simulator import FaultConfig

PARENT_KEY = {"v1": "key", "v2": "processInstanceKey"}
# (export name, endpoint, page size, batch size): variables (3 per instance: 2 pages each with a
# page size of 2), flow node instances (exact-only processInstanceKey on v2 8.8) and incidents
# (most instances have none).
CHILDREN = (
    ("vars", "variables", 2, 4),
    ("nodes", "flownode-instances", 3, 5),
    ("incs", "incidents", 2, 6),
)


def spec_document(base_url: str, out: Path, api: str, fmt: str = "jsonl") -> dict[str, Any]:
    exports: list[dict[str, Any]] = [
        {
            "endpoint": "process-instances",
            "name": "orders",
            "page_size": 7,
        }
    ]
    for name, endpoint, page_size, batch in CHILDREN:
        link = {"export": "orders", "field": PARENT_KEY[api], "filter_field": "processInstanceKey"}
        exports.append(
            {
                "endpoint": endpoint,
                "name": name,
                "page_size": page_size,
                "parent": {**link, "batch_size": batch},
            }
        )
    return {
        "version": 1,
        "source": {"base_url": base_url, "api": api, "retry": {"max_attempts": 1}},
        "concurrency": 3,
        "exports": exports,
        "output": {"format": fmt, "path": str(out), "rows_per_file": 25},
    }


def manifests(out: Path, name: str) -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text()) for p in sorted(out.glob(f"{name}/snapshot=*/_manifest.json"))
    ]


def records(out: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of a snapshot in part order (JSONL or Parquet)."""
    folder = out / manifest["export"] / manifest["snapshot"]
    rows: list[dict[str, Any]] = []
    for part in manifest["files"]:
        path = folder / part["name"]
        if manifest["format"] == "parquet":
            rows += pq.read_table(path).to_pylist()
        else:
            rows += [json.loads(line) for line in path.read_text().splitlines()]
    return rows


def children_by_parent(sim: Any, endpoint: str) -> dict[int, list[int]]:
    """The simulator's truth: child keys per processInstanceKey."""
    found: dict[int, list[int]] = {}
    for row in sim.truth(endpoint):
        found.setdefault(int(row["processInstanceKey"]), []).append(int(row["key"]))
    return found


UNIQUE = {"variables": "variableKey", "flownode-instances": "elementInstanceKey"}
UNIQUE["incidents"] = "incidentKey"


def check_pair(sim: Any, out: Path, parent: dict[str, Any]) -> dict[str, list[int]]:
    """Each child snapshot the parent's manifest lists holds exactly the truth's children of
    the parent's keys, once each; returns the parent keys in written order per child name."""
    parent_keys = [int(r["processInstanceKey"]) for r in records(out, parent)]
    assert parent_keys and len(set(parent_keys)) == len(parent_keys)
    listed = {c["export"]: c for c in parent["children"]}
    assert set(listed) == {name for name, *_ in CHILDREN}
    for name, endpoint, *_ in CHILDREN:
        (child,) = [m for m in manifests(out, name) if m["snapshot"] == listed[name]["snapshot"]]
        assert child["parent"]["export"] == "orders"
        assert child["parent"]["snapshot"] == parent["snapshot"]
        got = Counter(int(r[UNIQUE[endpoint]]) for r in records(out, child))
        assert max(got.values(), default=1) == 1, f"{name}: a record twice"
        truth = children_by_parent(sim, endpoint)
        expected = {key for p in parent_keys for key in truth.get(p, [])}
        assert set(got) == expected, name
        assert child["records"] == listed[name]["records"] == len(expected)
    return {"orders": parent_keys}


def planned_searches(
    sim: Any, api: str, endpoint: str, parent_keys: list[int], page_size: int, batch: int
) -> int:
    """The plan: each search pages until a short page (count // page size + 1 requests); v2
    sends one $in search per batch where the field takes $in, else one search per key."""
    truth = children_by_parent(sim, endpoint)
    counts = [len(truth.get(key, [])) for key in parent_keys]
    exact = get_dialect(api).parent_filters(
        get_endpoint(endpoint, api), "processInstanceKey", [1, 2], "8.8"
    )
    if len(exact) == 2:  # one search per key
        return sum(n // page_size + 1 for n in counts)
    batches = [counts[i : i + batch] for i in range(0, len(counts), batch)]
    return sum(sum(b) // page_size + 1 for b in batches)


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_children_equal_truth_and_requests_match_the_plan(
    make_simulator: Any, tmp_path: Path, api: str
) -> None:
    sim = make_simulator(scale=60, seed=3, api="both")
    spec = load_spec(spec_document(sim.base_url, tmp_path, api))
    sim.reset_stats()
    result = run_job(spec)
    assert result.ok, [(e.name, e.error) for e in result.exports]
    (parent,) = manifests(tmp_path, "orders")
    parent_keys = check_pair(sim, tmp_path, parent)["orders"]
    # the data covers the edge cases: several parent pages and batches, parents without
    # children, parents with more than one page of children
    assert len(parent_keys) > 7 * 2
    incidents = children_by_parent(sim, "incidents")
    assert any(k in incidents for k in parent_keys) and any(k not in incidents for k in parent_keys)
    assert all(len(children_by_parent(sim, "variables")[k]) > 2 for k in parent_keys)
    searches = sim.stats()["searches"]
    for _name, endpoint, page_size, batch in CHILDREN:
        plan = planned_searches(sim, api, endpoint, parent_keys, page_size, batch)
        assert searches[endpoint] == plan, endpoint
    per_key = sum(len(children_by_parent(sim, "variables")[k]) // 2 + 1 for k in parent_keys)
    if api == "v2":  # $in: ceil(parents / batch) searches and their pages, fewer than per key
        assert searches["variables"] < per_key
    else:
        assert searches["variables"] == per_key


def test_parquet_pair(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=40, seed=5, api="both")
    result = run_job(load_spec(spec_document(sim.base_url, tmp_path, "v2", fmt="parquet")))
    assert result.ok, [(e.name, e.error) for e in result.exports]
    (parent,) = manifests(tmp_path, "orders")
    check_pair(sim, tmp_path, parent)


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_failing_child_commits_neither_and_a_rerun_gives_the_pair(
    make_simulator: Any, tmp_path: Path, api: str
) -> None:
    sim = make_simulator(scale=40, seed=5, api="both")
    document = spec_document(sim.base_url, tmp_path, api)
    # 500s without retries: a child search fails (children send most of the requests)
    sim.set_faults(FaultConfig(rate_500=0.05))
    result = run_job(load_spec(document))
    sim.set_faults(FaultConfig())
    assert not result.ok
    errors = {e.name: e.error for e in result.exports}
    assert all(errors.values()), errors
    # a child's own failure fails the parent, which fails the other children; (seldom) a
    # parent search fails first, which fails every child
    children = [str(errors[name]) for name, *_ in CHILDREN]
    if "dependent export" in str(errors["orders"]):
        assert sum("its parent 'orders' failed" not in e for e in children) >= 1
    else:
        assert all("its parent 'orders' failed" in e for e in children)
    for name in ("orders", *(name for name, *_ in CHILDREN)):
        assert manifests(tmp_path, name) == [], name
    assert list(tmp_path.glob("orders/snapshot=*/_INCOMPLETE"))
    result = run_job(load_spec(document))
    assert result.ok
    (parent,) = manifests(tmp_path, "orders")
    check_pair(sim, tmp_path, parent)


class StopOnParentPage(QuietReporter):
    """Stops the run (as SIGTERM would) once the parent wrote its second page."""

    def __init__(self, stop: StopFlag) -> None:
        self.stop = stop

    def page_done(self, name: str, **values: Any) -> None:
        if name == "orders" and values["pages"] == 2:
            self.stop.request(signal.SIGTERM)


def test_an_interrupted_parent_commits_no_child(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=40, seed=5, api="both")
    stop = StopFlag()
    result = run_job(
        load_spec(spec_document(sim.base_url, tmp_path, "v2")),
        reporter=StopOnParentPage(stop),
        stop=stop,
    )
    assert {e.name: e.error_type for e in result.exports} == {
        "orders": "Interrupted",
        **{name: "Interrupted" for name, *_ in CHILDREN},
    }
    for name in ("orders", *(name for name, *_ in CHILDREN)):
        assert manifests(tmp_path, name) == [], name
        (marker,) = tmp_path.glob(f"{name}/snapshot=*/_INCOMPLETE")
        assert json.loads(marker.read_text())["status"] == "interrupted"


def test_v1_child_searches_in_flight_stay_within_concurrency(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(scale=40, seed=5, api="both", faults=FaultConfig(latency_ms=15))
    document = spec_document(sim.base_url, tmp_path, "v1")
    document["exports"] = document["exports"][:2]
    document["exports"][1]["hydrate"] = False  # no lookups: only searches are in flight
    document["concurrency"] = 3
    sim.reset_stats()
    assert run_job(load_spec(document)).ok
    stats = sim.stats()
    assert stats["searches"]["variables"] > 20
    # the child pool's 3 searches and the parent's one fetch at most
    assert stats["max_in_flight"] <= 3 + 1


def test_dialects_choose_in_or_exact_searches() -> None:
    v1, v2 = get_dialect("v1"), get_dialect("v2")
    keys = ["2251799813685249", "2251799813685250"]
    variables = get_endpoint("variables", "v2")
    assert v2.parent_filters(variables, "processInstanceKey", keys, "8.8") == [
        {"processInstanceKey": {"$in": keys}}
    ]
    nodes = get_endpoint("flownode-instances", "v2")  # exact-only on 8.8 and 8.9
    assert v2.parent_filters(nodes, "processInstanceKey", keys, "8.9") == [
        {"processInstanceKey": k} for k in keys
    ]
    incidents = get_endpoint("incidents", "v2")  # $in from 8.9
    assert len(v2.parent_filters(incidents, "processInstanceKey", keys, "8.8")) == 2
    assert len(v2.parent_filters(incidents, "processInstanceKey", keys, "8.9")) == 1
    assert v1.parent_filters(
        get_endpoint("variables", "v1"), "processInstanceKey", [1, 2], "8.8"
    ) == [{"processInstanceKey": 1}, {"processInstanceKey": 2}]


def _doc(api: str, *exports: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "source": {"base_url": "http://localhost:1", "api": api},
        "exports": list(exports),
    }


ORDERS = {"endpoint": "process-instances", "name": "orders"}


def _vars(**link: Any) -> dict[str, Any]:
    parent = {"export": "orders", "field": "key", "filter_field": "processInstanceKey", **link}
    return {"endpoint": "variables", "name": "vars", "parent": parent}


@pytest.mark.parametrize(
    ("api", "exports", "path", "words"),
    [
        ("v1", [ORDERS, _vars(export="nope")], "exports[1].parent.export", ["'nope'", "orders"]),
        ("v1", [ORDERS, _vars(field="kee")], "exports[1].parent.field", ["'kee'", "key"]),
        ("v2", [ORDERS, _vars()], "exports[1].parent.field", ["'key'", "processInstanceKey"]),
        (
            "v1",
            [ORDERS, _vars(filter_field="processKey")],
            "exports[1].parent.filter_field",
            ["'processKey'", "scopeKey"],
        ),
        (
            "v1",
            [ORDERS, _vars(field="bpmnProcessId")],
            "exports[1].parent.filter_field",
            ["(key)", "(string)", "same kind"],
        ),
        (
            "v1",
            [
                {**ORDERS, "parent": {"export": "vars", "field": "key", "filter_field": "key"}},
                _vars(),
            ],
            "exports[0].parent.export",
            ["cycle", "orders -> vars -> orders"],
        ),
        (
            "v1",
            [ORDERS, _vars(), {**_vars(export="vars"), "name": "grand"}],
            "exports[2].parent.export",
            ["'vars'", "without parent"],
        ),
        ("v1", [ORDERS, {**_vars(), "max_records": 5}], "exports[1].max_records", ["parent"]),
        (
            "v1",
            [ORDERS, {**_vars(), "filter": {"processInstanceKey": 1}}],
            "exports[1].filter.processInstanceKey",
            ["remove the filter"],
        ),
        ("v1", [ORDERS, _vars(batch_size=0)], "exports[1].parent.batch_size", ["minimum"]),
    ],
)
def test_spec_problems_name_the_export_and_field(
    api: str, exports: list[dict[str, Any]], path: str, words: list[str]
) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(_doc(api, *exports))
    problems = {p.path: p.message for p in caught.value.problems}
    assert path in problems, problems
    assert all(word in problems[path] for word in words), problems[path]


def test_valid_links_load_and_only_selects_whole_families(tmp_path: Path) -> None:
    spec = load_spec(_doc("v1", ORDERS, _vars()))
    link = spec.exports[1].parent
    assert link is not None and (link.export, link.batch_size) == ("orders", 100)
    v2 = {**_vars(field="processInstanceKey")}
    assert load_spec(_doc("v2", ORDERS, v2)).exports[1].parent is not None
    for only in (("vars",), ("orders",)):
        with pytest.raises(UsageError, match="select them together"):
            run_job(spec, RunOptions(only=only))
