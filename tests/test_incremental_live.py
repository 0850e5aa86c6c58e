"""Incremental exports against the live simulator (issue 15 point 8): a sequence of runs with the
clock advancing between them; the union of the windows' snapshots, one row per key, equals the
simulator's truth of the records dated in [start, last cutoff); a killed run and a backfill with
failed windows, once rerun, give the same union."""

from __future__ import annotations

import glob
import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from exporter import load_spec, run_job
from exporter.pipeline.results import RunOptions
from exporter.simulator import FaultConfig
from tests.cli_kill import run_cli_and_kill

START = "2026-11-26T22:00:00Z"
# The unique key of each endpoint: v1's name, then v2's (JSONL records are written in one of them).
KEYS = {
    "process-instances": ("key", "processInstanceKey"),
    "flownode-instances": ("key", "elementInstanceKey"),
    "incidents": ("key", "incidentKey"),
    "decision-instances": ("id", "decisionEvaluationInstanceKey"),
    "user-tasks": ("userTaskKey",),
    "jobs": ("jobKey",),
}
DATED = {
    "v1": [
        ("process-instances", "endDate", "endDate"),
        ("flownode-instances", "endDate", "endDate"),
        ("incidents", "creationTime", "creationTime"),
        ("decision-instances", "evaluationDate", "evaluationDate"),
    ],
    "v2": [
        ("process-instances", "endDate", "endDate"),
        ("flownode-instances", "endDate", "endDate"),
        ("incidents", "creationTime", "creationTime"),
        ("decision-instances", "evaluationDate", "evaluationDate"),
        ("user-tasks", "completionDate", "completionDate"),
        ("jobs", "endTime", "endTime"),
    ],
}


def spec_document(base_url: str, out: Path, api: str, **incremental: Any) -> dict[str, Any]:
    exports = [
        {
            "endpoint": endpoint,
            "name": endpoint,
            "page_size": 50,
            "incremental": {
                "field": field,
                "lag": "PT5M",
                "start": START,
                "window": "PT1H",
                **incremental,
            },
        }
        for endpoint, field, _ in DATED[api]
    ]
    return {
        "version": 1,
        "source": {"base_url": base_url, "api": api, "retry": {"max_attempts": 1}},
        "concurrency": 4,
        "exports": exports,
        "output": {"format": "jsonl", "path": str(out), "rows_per_file": 20},
    }


def record_key(record: dict[str, Any], endpoint: str) -> str:
    for name in KEYS[endpoint]:
        if record.get(name) is not None:
            return str(record[name])
    raise AssertionError(f"{endpoint}: no key in {sorted(record)}")


def snapshots(out: Path, name: str) -> list[tuple[dict[str, Any], list[str]]]:
    """(manifest, keys) of every complete snapshot of export ``name``."""
    found = []
    for manifest_path in sorted(glob.glob(str(out / name / "snapshot=*" / "_manifest.json"))):
        manifest = json.loads(Path(manifest_path).read_text())
        keys = []
        for part in manifest["files"]:
            text = (Path(manifest_path).parent / part["name"]).read_text()
            keys += [
                record_key(json.loads(line), manifest["endpoint"]) for line in text.splitlines()
            ]
        found.append((manifest, keys))
    return found


def check_union(sim: Any, out: Path, api: str) -> dict[str, int]:
    """Per export: the windows tile [start, last to) with no gap or overlap, every key is in
    exactly one window, and the union equals the truth of that range. Returns union sizes."""
    sizes = {}
    for endpoint, _field, truth_field in DATED[api]:
        found = [
            (m, k) for m, k in snapshots(out, endpoint) if m["incremental"]["mode"] == "incremental"
        ]
        windows = sorted((m["incremental"]["from_ms"], m["incremental"]["to_ms"]) for m, _ in found)
        assert windows, endpoint
        assert all(a[1] == b[0] for a, b in itertools.pairwise(windows)), (endpoint, windows)
        counts = Counter(key for _, keys in found for key in keys)
        assert max(counts.values(), default=1) == 1, f"{endpoint}: a key in two windows"
        start, end = windows[0][0], windows[-1][1]
        truth = sim.truth_window(endpoint, truth_field, start, end)
        expected = {record_key(r, endpoint) for r in truth}
        assert set(counts) == expected, endpoint
        sizes[endpoint] = len(expected)
    return sizes


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_runs_with_the_clock_advancing_union_equals_truth(
    make_simulator: Any, tmp_path: Path, api: str
) -> None:
    # late records (90 s, within the 5 min lag) are caught; the clock advances between runs
    sim = make_simulator(
        scale=60, seed=11, live=True, api="both", late_fraction=0.3, late_seconds=90
    )
    spec = load_spec(spec_document(sim.base_url, tmp_path, api))
    for _ in range(3):
        result = run_job(spec)
        assert result.ok, [e.error for e in result.exports]
        sim.clock.advance("PT50M")
    result = run_job(spec)
    assert result.ok
    sizes = check_union(sim, tmp_path, api)
    assert sizes["process-instances"] > 50 and sizes["incidents"] > 0, sizes
    # the manifest records both clocks; the server's is the one used
    manifest = snapshots(tmp_path, "process-instances")[-1][0]
    assert manifest["incremental"]["clock"]["used"] == "server"
    assert manifest["incremental"]["clock"]["server"].startswith("2026-11-27")


def test_an_up_to_date_export_writes_nothing(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=30, seed=2, live=True, api="both")
    spec = load_spec(spec_document(sim.base_url, tmp_path, "v2"))
    assert run_job(spec).ok
    before = len(glob.glob(str(tmp_path / "*" / "snapshot=*")))
    result = run_job(spec)  # same server clock: no new window
    assert result.ok and result.exports == []
    assert len(glob.glob(str(tmp_path / "*" / "snapshot=*"))) == before


def test_backfill_with_failed_windows_then_rerun_gives_the_same_union(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(scale=60, seed=5, live=True, api="both")
    sim.clock.advance("PT3H")
    document = spec_document(sim.base_url, tmp_path, "v2", window="PT20M")
    spec = load_spec(document)
    sim.set_faults(FaultConfig(rate_500=0.15))
    first = run_job(spec)
    failed = [e for e in first.exports if not e.ok]
    committed = [e for e in first.exports if e.ok]
    assert failed and committed, "the fault rate should fail some windows, not all"
    sim.set_faults(FaultConfig())
    second = run_job(spec)
    assert second.ok
    # only the failed windows ran again: the committed ones after a gap stayed
    redone = {(e.name, e.window) for e in second.exports}
    assert redone == {(e.name, e.window) for e in failed}
    reference = tmp_path / "reference"
    assert run_job(load_spec(spec_document(sim.base_url, reference, "v2", window="PT20M"))).ok
    assert check_union(sim, tmp_path, "v2") == check_union(sim, reference, "v2")


def test_sigkill_inside_a_window_then_resume_gives_the_same_union(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(scale=60, seed=9, live=True, api="both", faults=FaultConfig(latency_ms=40))
    sim.clock.advance("PT2H")
    document = spec_document(sim.base_url, tmp_path / "out", "v1")
    document["exports"] = document["exports"][1:2]  # flownode-instances: many pages
    document["exports"][0]["page_size"] = 5
    checkpoint = str(tmp_path / "out" / "*" / "snapshot=*" / "_checkpoint.json")
    run_cli_and_kill(document, tmp_path / "job.yaml", checkpoint)
    sim.set_faults(FaultConfig())
    result = run_job(load_spec(document), RunOptions(resume=True))
    assert result.ok
    resumed = [m for m, _ in snapshots(tmp_path / "out", "flownode-instances") if m["resumed_at"]]
    assert resumed, "the killed window was continued, not restarted"
    reference = dict(document, output={**document["output"], "path": str(tmp_path / "ref")})
    assert run_job(load_spec(reference)).ok
    mine = check_union_one(sim, tmp_path / "out")
    assert mine == check_union_one(sim, tmp_path / "ref") and mine > 0


def check_union_one(sim: Any, out: Path) -> int:
    found = snapshots(out, "flownode-instances")
    counts = Counter(key for _, keys in found for key in keys)
    assert max(counts.values()) == 1
    windows = sorted((m["incremental"]["from_ms"], m["incremental"]["to_ms"]) for m, _ in found)
    truth = sim.truth_window("flownode-instances", "endDate", windows[0][0], windows[-1][1])
    assert set(counts) == {str(r["key"]) for r in truth}
    return len(counts)


def test_range_rerun_does_not_move_the_watermark(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=30, seed=4, live=True, api="both")
    sim.clock.advance("PT2H")
    spec = load_spec(spec_document(sim.base_url, tmp_path, "v2"))
    assert run_job(spec).ok
    before = snapshots(tmp_path, "incidents")
    options = RunOptions(
        only=("incidents",), range_from="2026-11-26T23:00:00Z", range_to="2026-11-27T01:00:00Z"
    )
    result = run_job(spec, options)
    assert result.ok and len(result.exports) == 2
    after = snapshots(tmp_path, "incidents")
    ranged = [m for m, _ in after if m["incremental"]["mode"] == "range"]
    assert len(ranged) == 2 and len(after) == len(before) + 2
    # the next incremental run plans from the same watermark as before the range run
    sim.clock.advance("PT1H")
    third = run_job(spec, RunOptions(only=("incidents",)))
    assert [e.window for e in third.exports] == [
        "[2026-11-27T01:55:00.000Z, 2026-11-27T02:55:00.000Z)"
    ]


def test_records_at_from_at_to_minus_1ms_and_at_to_land_in_exactly_one_window(
    make_simulator: Any, tmp_path: Path
) -> None:
    """v2 windows are ms-exact: a record dated t is in [t, ...), in [..., t + 1) and not in
    [..., t). (v1 buckets are whole units; their tiling is proven in test_incremental_windows.)"""
    from exporter.spec.timespec import iso_ms

    sim = make_simulator(scale=60, seed=12, live=True, api="both")
    sim.clock.advance("PT2H")
    finished = [r for r in sim.truth("process-instances") if r.get("endDate")]
    record = finished[len(finished) // 2]
    t = record["endDate"]
    document = spec_document(sim.base_url, tmp_path, "v2")
    document["exports"] = document["exports"][:1]

    def holds(name: str, start: int, end: int) -> bool:
        document["output"]["path"] = str(tmp_path / name)
        options = RunOptions(range_from=iso_ms(start), range_to=iso_ms(end))
        assert run_job(load_spec(document), options).ok
        keys = {k for _, ks in snapshots(tmp_path / name, "process-instances") for k in ks}
        return str(record["key"]) in keys

    assert holds("from", t, t + 600_000)  # exactly at from: in
    assert holds("to-1", t - 600_000, t + 1)  # at to - 1 ms: in
    assert not holds("to", t - 600_000, t)  # exactly at to: in the next window, not this one
