"""Dependent exports of an incremental parent (issue 16 points 2 and 4): the children of each
window, committed with it. A window counts towards the watermark only when the parent and every
child committed it (the child naming the parent snapshot); a crash at any instant, including
between the child's commit and the parent's, leaves the window to the next run, which yields
the same pair."""

from __future__ import annotations

import glob
import itertools
import json
from pathlib import Path
from typing import Any

from exporter import load_spec, run_job
from exporter.pipeline.results import RunOptions
from exporter.simulator import FaultConfig
from exporter.sinks.families import committed_families
from tests.cli_kill import run_cli_and_kill

START = "2026-11-26T22:00:00Z"


def spec_document(base_url: str, out: Path, api: str) -> dict[str, Any]:
    field = "key" if api == "v1" else "processInstanceKey"
    return {
        "version": 1,
        "source": {"base_url": base_url, "api": api, "retry": {"max_attempts": 1}},
        "concurrency": 3,
        "exports": [
            {
                "endpoint": "process-instances",
                "name": "finished",
                "page_size": 10,
                "incremental": {
                    "field": "endDate",
                    "lag": "PT5M",
                    "start": START,
                    "window": "PT1H",
                },
            },
            {
                "endpoint": "variables",
                "name": "vars",
                "page_size": 4,
                "parent": {
                    "export": "finished",
                    "field": field,
                    "filter_field": "processInstanceKey",
                    "batch_size": 7,
                },
            },
        ],
        "output": {"format": "jsonl", "path": str(out), "rows_per_file": 30},
    }


def read_manifests(out: Path, name: str) -> list[dict[str, Any]]:
    paths = sorted(glob.glob(str(out / name / "snapshot=*" / "_manifest.json")))
    return [json.loads(Path(p).read_text()) for p in paths]


def keys_of(out: Path, manifest: dict[str, Any], field: str) -> list[int]:
    folder = out / manifest["export"] / manifest["snapshot"]
    keys = []
    for part in manifest["files"]:
        lines = (folder / part["name"]).read_text().splitlines()
        keys += [int(json.loads(line)[field]) for line in lines]
    return keys


def check_pairs(sim: Any, out: Path) -> int:
    """The committed windows tile [start, last to) and their union equals the truth; each
    window's listed child snapshot names it and holds exactly the truth's variables of the
    window's instances. Returns the number of instances."""
    complete = read_manifests(out, "finished")
    parents = committed_families(complete, "finished", {"vars": read_manifests(out, "vars")})
    assert all(m["incremental"]["mode"] == "incremental" for m in parents)
    children = {m["snapshot"]: m for m in read_manifests(out, "vars")}
    windows = sorted((m["incremental"]["from_ms"], m["incremental"]["to_ms"]) for m in parents)
    assert windows and all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    truth_vars: dict[int, set[int]] = {}
    for row in sim.truth("variables"):
        truth_vars.setdefault(int(row["processInstanceKey"]), set()).add(int(row["key"]))
    instances: list[int] = []
    for parent in parents:
        keys = keys_of(out, parent, "processInstanceKey")
        instances += keys
        (listed,) = parent["children"]
        child = children[listed["snapshot"]]
        assert child["parent"]["snapshot"] == parent["snapshot"]
        assert child["parent"]["window"]["from"] == parent["incremental"]["from"]
        got = keys_of(out, child, "variableKey")
        assert len(got) == len(set(got))
        assert set(got) == set().union(*(truth_vars.get(k, set()) for k in keys))
    truth = sim.truth_window("process-instances", "endDate", windows[0][0], windows[-1][1])
    assert sorted(instances) == sorted(int(r["key"]) for r in truth)
    return len(instances)


def test_children_of_each_window_across_runs(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=15, seed=11, live=True, api="both")
    sim.clock.advance("PT1H")
    for api in ("v1", "v2"):
        out = tmp_path / api
        spec = load_spec(spec_document(sim.base_url, out, api))
        for _ in range(2):
            result = run_job(spec)
            assert result.ok, [(e.name, e.error) for e in result.exports]
            sim.clock.advance("PT50M")
        assert check_pairs(sim, out) > 20


def test_a_failed_child_keeps_the_window_uncommitted(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=15, seed=11, live=True, api="both")
    sim.clock.advance("PT3H")
    spec = load_spec(spec_document(sim.base_url, tmp_path, "v2"))
    sim.set_faults(FaultConfig(rate_500=0.1))
    failed = run_job(spec)
    sim.set_faults(FaultConfig())
    assert not failed.ok
    windows = {e.window for e in failed.exports if e.name == "finished" and e.error}
    assert windows, "some window failed"
    # no failed window has a committed parent
    committed = {
        f"[{m['incremental']['from']}, {m['incremental']['to']})"
        for m in read_manifests(tmp_path, "finished")
    }
    assert not windows & committed
    result = run_job(spec)
    assert result.ok
    redone = {e.window for e in result.exports if e.name == "finished"}
    assert windows <= redone  # the failed windows again (and nothing twice: check_pairs tiles)
    assert check_pairs(sim, tmp_path) > 20


def test_a_crash_between_the_commits_reexports_the_window(
    make_simulator: Any, tmp_path: Path
) -> None:
    """The instants the commit order allows: child committed and parent not (the parent's
    manifest removed = never written), and the reverse (the child's removed)."""
    sim = make_simulator(scale=15, seed=11, live=True, api="both")
    sim.clock.advance("PT2H")
    spec = load_spec(spec_document(sim.base_url, tmp_path, "v2"))
    assert run_job(spec).ok
    parents = read_manifests(tmp_path, "finished")
    first, last = parents[0], parents[-1]
    (tmp_path / "finished" / first["snapshot"] / "_manifest.json").unlink()
    child = last["children"][0]["snapshot"]
    (tmp_path / "vars" / child / "_manifest.json").unlink()
    result = run_job(spec)
    assert result.ok
    redone = sorted(e.window for e in result.exports if e.name == "finished")
    windows = [first, last]
    assert redone == sorted(
        f"[{m['incremental']['from']}, {m['incremental']['to']})" for m in windows
    )
    # the old parent of the last window is still complete, but its child is not: only the
    # new pair counts (check_pairs reads the parents committed with their children)
    assert (tmp_path / "finished" / last["snapshot"] / "_manifest.json").exists()
    assert check_pairs(sim, tmp_path) > 10


def test_a_parent_commit_cut_short_is_finished_not_exported_again(
    make_simulator: Any, tmp_path: Path
) -> None:
    """Killed inside the parent's commit (``_commit.json`` written, parts not yet renamed, no
    manifest) after the child committed: the next run finishes that commit before planning, so
    the window counts as committed and is not exported a second time beside it."""
    sim = make_simulator(scale=15, seed=11, live=True, api="both")
    sim.clock.advance("PT2H")
    spec = load_spec(spec_document(sim.base_url, tmp_path, "v1"))
    assert run_job(spec).ok
    last = read_manifests(tmp_path, "finished")[-1]
    folder = tmp_path / "finished" / last["snapshot"]
    (folder / "_manifest.json").rename(folder / "_commit.json")
    for part in last["files"]:
        (folder / part["name"]).rename(folder / f"_{part['name']}")
    (folder / "_INCOMPLETE").write_text('{"status": "in progress"}')
    result = run_job(spec)
    assert result.ok, [(e.name, e.error) for e in result.exports]
    assert not [e.window for e in result.exports if e.name == "finished"]  # nothing to redo
    assert (folder / "_manifest.json").exists() and not (folder / "_INCOMPLETE").exists()
    assert check_pairs(sim, tmp_path) > 10  # one committed pair per window, no duplicate


def test_committed_families_needs_every_child() -> None:
    parents = [{"snapshot": "snapshot=A"}, {"snapshot": "snapshot=B"}, {"snapshot": "snapshot=C"}]
    vars_ = [{"parent": {"export": "p", "snapshot": s}} for s in ("snapshot=A", "snapshot=B")]
    nodes = [{"parent": {"export": "p", "snapshot": "snapshot=A"}}]
    other = [{"parent": {"export": "q", "snapshot": "snapshot=C"}}]
    kept = committed_families(parents, "p", {"vars": vars_, "nodes": nodes + other})
    assert kept == [{"snapshot": "snapshot=A"}]
    assert committed_families(parents, "p", {"vars": vars_}) == parents[:2]


def test_sigkill_then_rerun_gives_the_same_pairs(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=15, seed=9, live=True, api="both", faults=FaultConfig(latency_ms=30))
    sim.clock.advance("PT3H")
    document = spec_document(sim.base_url, tmp_path / "out", "v1")
    # killed once a child snapshot of the run has written a part (children run mid-window)
    child_part = str(tmp_path / "out" / "vars" / "snapshot=*" / "part-*")
    run_cli_and_kill(document, tmp_path / "job.yaml", child_part)
    incomplete = glob.glob(str(tmp_path / "out" / "*" / "snapshot=*" / "_INCOMPLETE"))
    assert incomplete, "killed mid-run"
    sim.set_faults(FaultConfig())
    result = run_job(load_spec(document), RunOptions(resume=True))
    assert result.ok, [(e.name, e.error) for e in result.exports]
    reference = dict(document, output={**document["output"], "path": str(tmp_path / "ref")})
    assert run_job(load_spec(reference)).ok
    mine = check_pairs(sim, tmp_path / "out")
    assert mine == check_pairs(sim, tmp_path / "ref") and mine > 20
