"""Sharded runs across processes (issue 17 point 3), through the real CLI against the simulator:
plan -> N ``run --shard I/N --run-id ID`` processes at once -> commit; and the deploy/ files
that do exactly this on Kubernetes and Airflow."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from exporter.simulator.faults import FaultConfig

REPO = Path(__file__).resolve().parent.parent
SHARDS = 4

SPEC = """\
version: 1
source: {base_url: "${SIM_URL}", api: v1, max_in_flight: 3}
exports:
  - {endpoint: flownode-instances, name: fni, shards: auto, page_size: 25}
  - {endpoint: process-instances, name: pi, shards: 4, sort: [{field: startDate}]}
output: {path: "${OUT}", format: jsonl}
"""


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "exporter", *args],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def keys_of(location: Path, key: str) -> list[int]:
    manifest = orjson.loads((location / "_manifest.json").read_bytes())
    lines = [
        line
        for part in manifest["files"]
        for line in (location / part["name"]).read_bytes().splitlines()
    ]
    assert len(lines) == manifest["records"]
    return sorted(int(orjson.loads(line)[key]) for line in lines)


def test_n_processes_build_one_snapshot_and_commit_publishes_it(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(scale=150, seed=6, faults=FaultConfig(latency_ms=10))
    spec = tmp_path / "job.yaml"
    spec.write_text(SPEC)
    env = {"SIM_URL": sim.base_url, "OUT": str(tmp_path / "out")}

    # The plan is deterministic and printable, without storing anything.
    first, again = cli("plan", str(spec), "--shards=4", env=env), cli("plan", str(spec), env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("fni (flownode-instances, v1): 4 shards, key-range of key")
    assert cli("plan", str(spec), "--shards=4", env=env).stdout == first.stdout
    assert "fni (flownode-instances, v1): 3 shards" in again.stdout  # auto: max_in_flight
    assert not (tmp_path / "out").exists()

    stored = cli("plan", str(spec), "--shards=4", "--run-id=r-1", "--json", env=env)
    assert stored.returncode == 0, stored.stderr
    plans = {p["export"]: p for p in orjson.loads(stored.stdout)}
    assert {p["count"] for p in plans.values()} == {SHARDS}

    # Shards 0..2 at once (same run id: one lock per shard, none waits or exits 75).
    running = [
        start("run", str(spec), f"--shard={i}/{SHARDS}", "--run-id=r-1", "-q", env=env)
        for i in range(SHARDS - 1)
    ]
    for proc in running:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
    assert sim.stats()["max_in_flight"] <= 3 * (SHARDS - 1)

    early = cli("commit", str(spec), "--run-id=r-1", env=env)
    assert early.returncode == 1
    assert "1 of 4 shards have not finished" in early.stderr and "shard(s) 3 " in early.stderr
    (snapshot,) = (tmp_path / "out" / "fni").glob("snapshot=*")
    assert not (snapshot / "_manifest.json").exists() and (snapshot / "_INCOMPLETE").exists()

    last = cli(
        "run",
        str(spec),
        "--shard-from-env=4",
        "--run-id=r-1",
        "-q",
        env={**env, "JOB_COMPLETION_INDEX": "3"},
    )
    assert last.returncode == 0, last.stderr
    again_shard = cli("run", str(spec), "--shard=3/4", "--run-id=r-1", "-q", env=env)
    assert again_shard.returncode == 0  # a finished shard is not run twice
    done = cli("commit", str(spec), "--run-id=r-1", env=env)
    assert done.returncode == 0, done.stderr
    assert not (snapshot / "_INCOMPLETE").exists()
    truth = sorted(r["key"] for r in sim.dataset.records("flownode-instances"))
    assert keys_of(snapshot, "elementInstanceKey") == truth
    (pi,) = (tmp_path / "out" / "pi").glob("snapshot=*")
    truth_pi = sorted(r["key"] for r in sim.dataset.records("process-instances"))
    assert keys_of(pi, "processInstanceKey") == truth_pi
    manifest = orjson.loads((snapshot / "_manifest.json").read_bytes())
    assert manifest["extra"]["plan"]["shards"] == plans["fni"]["shards"]  # the stored plan

    # Usage errors: exit 2 before any request.
    assert cli("run", str(spec), "--shard=3/4", env=env).returncode == 2  # no --run-id
    assert cli("run", str(spec), "--shard=4/4", "--run-id=x", env=env).returncode == 2
    assert cli("run", str(spec), "--shard-from-env=4", "--run-id=x", env=env).returncode == 2
    wrong = cli("run", str(spec), "--shard=1/5", "--run-id=x", env=env)
    assert wrong.returncode == 2 and "shards: 4" in wrong.stderr
    stored_wrong = cli("plan", str(spec), "--only=pi", "--shards=8", "--run-id=r-2", env=env)
    assert stored_wrong.returncode == 2 and "--shards 8: export 'pi' has shards: 4" in (
        stored_wrong.stderr
    )


def test_kubernetes_indexed_job_does_plan_shards_commit() -> None:
    import yaml

    text = (REPO / "deploy" / "sharded-job.yaml").read_text()
    (document,) = [d for d in yaml.safe_load_all(text) if d]
    jobs = document["items"]
    steps = [job["metadata"]["labels"]["step"] for job in jobs]
    assert steps == ["plan", "shards", "commit"]
    args = [job["spec"]["template"]["spec"]["containers"][0]["args"] for job in jobs]
    assert args[0][0] == "plan" and "--run-id=${RUN_ID}" in args[0]
    indexed = jobs[1]["spec"]
    assert indexed["completionMode"] == "Indexed"
    assert indexed["completions"] == indexed["parallelism"] == 8
    assert (
        args[1][0] == "run" and "--shard-from-env=8" in args[1] and "--run-id=${RUN_ID}" in args[1]
    )
    assert args[2][0] == "commit" and "--run-id=${RUN_ID}" in args[2]
    for job in jobs:
        (container,) = job["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert "value" not in env["OPERATE_CLIENT_SECRET"]


def test_airflow_dag_maps_one_task_per_shard_between_plan_and_commit() -> None:
    source = (REPO / "deploy" / "airflow_sharded_export.py").read_text()
    tree = ast.parse(source)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    expands = [c for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr == "expand"]
    (expand,) = expands
    assert isinstance(expand.func, ast.Attribute) and ast.unparse(expand.func.value) == "shard"
    assert ast.unparse(expand) == "shard.expand(index=plan())"
    assert ">> commit()" in source
    commands = [ast.unparse(c) for c in calls if ast.unparse(c.func) == "subprocess.run"]
    assert any("'plan'" in c and "--run-id" in c for c in commands)
    assert any("'run'" in c and "--shard=" in c and "--run-id" in c for c in commands)
    assert any("'commit'" in c and "--run-id" in c for c in commands)
    # The run id Airflow gives (with ':' and '+') is one the CLI accepts.
    (function,) = [n for n in tree.body if getattr(n, "name", "") == "run_id_of"]
    namespace: dict[str, Any] = {}
    exec("import re\n" + str(ast.get_source_segment(source, function)), namespace)
    from exporter.sinks.shards import check_run_id

    assert check_run_id(namespace["run_id_of"]("scheduled__2026-12-01T02:15:00+00:00"))
