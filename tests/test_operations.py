"""Issue 19: cron-grade operations, through the real CLI (subprocesses) against the simulator.

Run lock (two overlapping runs, different exports side by side, SIGKILL then take-over), the
metrics file (parsed with prometheus_client's own parser; last success carried over by a failed
and an invalid run), run ids in JSON log lines and manifests, ``ls`` (text and JSON),
``validate --offline``, the exit codes and ``--version``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.errors import EXIT_LOCKED
from exporter.simulator import FaultConfig, Simulator
from exporter.sinks import INCOMPLETE_NAME, MANIFEST_NAME
from exporter.version import __version__

MakeSim = Callable[..., Simulator]
REPO = Path(__file__).resolve().parent.parent
HANG_GUARD_SECONDS = 60.0  # only stops a broken run from hanging the suite
LOCK_EXIT_BOUND_SECONDS = 20.0  # generous: a refused run exits in well under a second


def write_spec(path: Path, base_url: str, out: Path, exports: str, extra: str = "") -> Path:
    path.write_text(
        f"""version: 1
source: {{base_url: "{base_url}", api: v1, retry: {{max_attempts: 1}}}}
concurrency: 2
exports:
{exports}
output: {{format: jsonl, path: "{out}", rows_per_file: 50}}
{extra}"""
    )
    return path


SLOW_EXPORTS = """  - {endpoint: variables, name: vars, page_size: 20}
  - {endpoint: process-instances, name: instances, page_size: 50}
"""


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        env=env,
    )


def start(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:  # a file, not a pipe: a full pipe would stall the child
        return subprocess.Popen(
            [sys.executable, "-m", "exporter", *args], cwd=REPO, stdout=sink, stderr=sink
        )


def wait_until(proc: subprocess.Popen[bytes], reached: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while not reached():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"hang guard: never reached {what}")
        time.sleep(0.01)


def running(out: Path, export: str) -> Callable[[], bool]:
    """True once the export has an in-progress snapshot (the run holds its lock by then)."""
    return lambda: any((out / export).glob(f"snapshot=*/{INCOMPLETE_NAME}"))


def manifests(out: Path, export: str) -> list[dict[str, Any]]:
    return [orjson.loads(p.read_bytes()) for p in sorted((out / export).glob(f"*/{MANIFEST_NAME}"))]


def metrics(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a metrics file, parsed by prometheus_client's parser."""
    samples = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(found: dict[Any, float], name: str, **labels: str) -> float:
    return found[(f"operate_export_{name}", tuple(sorted(labels.items())))]


# -- run lock ----------------------------------------------------------------------------------


def test_a_second_run_of_the_same_exports_exits_75_naming_the_holder_while_others_go_ahead(
    make_simulator: MakeSim, tmp_path: Path
) -> None:
    sim = make_simulator(scale=300, faults=FaultConfig(latency_ms=30))
    out = tmp_path / "out"
    # ~180 pages of variables at 30 ms each: the first run lasts seconds, not milliseconds.
    slow = SLOW_EXPORTS.replace("page_size: 20", "page_size: 5")
    spec = write_spec(tmp_path / "job.yaml", sim.base_url, out, slow)
    other = write_spec(
        tmp_path / "other.yaml",
        sim.base_url,
        out,
        "  - {endpoint: incidents, name: incidents}\n",
    )
    first = start("run", str(spec), log=tmp_path / "first.log")
    wait_until(first, running(out, "vars"), "the first run's snapshot")
    # Hold the first run inside its export, however slow this machine starts the other runs:
    # a second per search until the checks below are done.
    sim.set_faults(FaultConfig(latency_ms=1000))

    started = time.monotonic()
    second = cli("run", str(spec), "--only", "vars")
    assert second.returncode == EXIT_LOCKED, second.stderr
    assert time.monotonic() - started < LOCK_EXIT_BOUND_SECONDS
    message = second.stderr
    assert "'vars' is being exported into this location by another run" in message
    assert f"host {socket.gethostname()}, pid {first.pid}, started 20" in message
    assert not list((out / "vars").glob("snapshot=*/_manifest.json")), "the refused run wrote"
    assert len(list((out / "vars").glob("snapshot=*"))) == 1, "the refused run made a snapshot"

    # A run of another export into the same location is not held up by the lock.
    beside = cli("run", str(other))
    assert beside.returncode == 0, beside.stderr
    beside_manifest = manifests(out, "incidents")[0]
    assert not manifests(out, "vars"), "the first run should still be going"
    assert (
        beside_manifest["run_id"] != orjson.loads((out / "vars" / ".lock").read_bytes())["run_id"]
    )

    sim.set_faults(FaultConfig(latency_ms=0))
    assert first.wait(timeout=HANG_GUARD_SECONDS) == 0, (tmp_path / "first.log").read_text()
    assert cli("run", str(spec), "--only", "vars").returncode == 0  # free again afterwards
    assert len(manifests(out, "vars")) == 2


@pytest.mark.slow
def test_a_lock_left_by_a_killed_run_is_taken_over(make_simulator: MakeSim, tmp_path: Path) -> None:
    sim = make_simulator(scale=300, faults=FaultConfig(latency_ms=30))
    out = tmp_path / "out"
    spec = write_spec(tmp_path / "job.yaml", sim.base_url, out, SLOW_EXPORTS)
    victim = start("run", str(spec), log=tmp_path / "victim.log")
    wait_until(victim, running(out, "vars"), "the run's snapshot")
    lock = out / "vars" / ".lock"
    assert orjson.loads(lock.read_bytes())["pid"] == victim.pid
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=HANG_GUARD_SECONDS) == -signal.SIGKILL

    rerun = cli("run", str(spec), "--resume")
    assert rerun.returncode == 0, rerun.stderr
    holder = orjson.loads(lock.read_bytes())
    assert holder["pid"] != victim.pid and holder["host"] == socket.gethostname()
    assert [m["records"] for m in manifests(out, "vars")] == [len(sim.dataset.records("variables"))]


# -- metrics, run id ---------------------------------------------------------------------------


def test_metrics_file_and_run_id(make_simulator: MakeSim, tmp_path: Path) -> None:
    sim = make_simulator(scale=200)
    out = tmp_path / "out"
    spec = write_spec(tmp_path / "nightly.yaml", sim.base_url, out, SLOW_EXPORTS)
    prom = tmp_path / "nightly.prom"
    done = cli("run", str(spec), "--metrics-file", str(prom), "--log-format", "json")
    assert done.returncode == 0, done.stderr

    found = metrics(prom)
    for export, endpoint in (("vars", "variables"), ("instances", "process-instances")):
        (manifest,) = manifests(out, export)
        labels = {"spec": "nightly", "export": export}
        assert sample(found, "records", **labels) == manifest["records"]
        assert manifest["records"] == len(sim.dataset.records(endpoint))
        assert sample(found, "bytes", **labels) == manifest["bytes"] > 0
        assert sample(found, "requests", **labels) == manifest["extra"]["requests"] > 0
        assert sample(found, "retries", **labels) == 0
        assert sample(found, "success", **labels) == 1
        assert sample(found, "duration_seconds", **labels) > 0
        assert abs(sample(found, "last_success_timestamp_seconds", **labels) - time.time()) < 600
    assert sample(found, "run_exit_code", spec="nightly") == 0
    assert sample(found, "run_duration_seconds", spec="nightly") > 0
    last_success = sample(found, "last_success_timestamp_seconds", spec="nightly", export="vars")

    # Every JSON line and both manifests carry the same run id.
    lines = [orjson.loads(line) for line in done.stderr.splitlines()]
    run_ids = {line.get("run_id") for line in lines} | {orjson.loads(done.stdout)["run_id"]}
    run_ids |= {m["run_id"] for e in ("vars", "instances") for m in manifests(out, e)}
    assert len(run_ids) == 1 and None not in run_ids and "" not in run_ids, run_ids

    # A failed run: success 0 and exit code 1, the last success time carried over.
    sim.stop()
    failed = cli("run", str(spec), "--metrics-file", str(prom))
    assert failed.returncode == 1, failed.stderr
    found = metrics(prom)
    assert sample(found, "success", spec="nightly", export="vars") == 0
    assert sample(found, "run_exit_code", spec="nightly") == 1
    kept = sample(found, "last_success_timestamp_seconds", spec="nightly", export="vars")
    assert kept == last_success

    # An invalid spec: exit 2 in the file, the exports' last success still there.
    spec.write_text(spec.read_text().replace("endpoint: variables", "endpoint: variable"))
    invalid = cli("run", str(spec), "--metrics-file", str(prom))
    assert invalid.returncode == 2, invalid.stderr
    found = metrics(prom)
    assert sample(found, "run_exit_code", spec="nightly") == 2
    assert sample(found, "last_success_timestamp_seconds", spec="nightly", export="vars") == kept
    assert not list(tmp_path.glob("nightly.prom.*")), "the temp file of the atomic write is left"


def test_last_success_comes_from_the_newest_manifest_without_a_metrics_file(
    make_simulator: MakeSim, tmp_path: Path
) -> None:
    sim = make_simulator(scale=100)
    out = tmp_path / "out"
    spec = write_spec(tmp_path / "job.yaml", sim.base_url, out, SLOW_EXPORTS)
    assert cli("run", str(spec)).returncode == 0
    (manifest,) = manifests(out, "vars")
    sim.stop()
    prom = tmp_path / "job.prom"
    assert cli("run", str(spec), "--metrics-file", str(prom)).returncode == 1
    found = metrics(prom)
    finished = manifest["finished_at"].replace("Z", "+00:00")
    import datetime as dt

    expected = dt.datetime.fromisoformat(finished).timestamp()
    assert sample(found, "last_success_timestamp_seconds", spec="job", export="vars") == expected


# -- ls ----------------------------------------------------------------------------------------


def test_ls_lists_complete_and_incomplete_snapshots(
    make_simulator: MakeSim, tmp_path: Path
) -> None:
    sim = make_simulator(scale=100)
    out = tmp_path / "out"
    spec = write_spec(tmp_path / "job.yaml", sim.base_url, out, SLOW_EXPORTS)
    assert cli("run", str(spec)).returncode == 0
    sim.stop()
    assert cli("run", str(spec), "--only", "vars").returncode == 1  # leaves a failed snapshot

    listed = cli("ls", str(out), "--json")
    assert listed.returncode == 0, listed.stderr
    data = orjson.loads(listed.stdout)
    by_name = {e["export"]: e for e in data["exports"]}
    assert sorted(by_name) == ["instances", "vars"]
    vars_ = by_name["vars"]
    assert [s["status"] for s in vars_["snapshots"]] == ["complete", "failed"]
    complete, failed = vars_["snapshots"]
    (manifest,) = manifests(out, "vars")
    assert vars_["latest_complete"] == manifest["snapshot"] == complete["name"]
    assert complete["records"] == manifest["records"] and complete["bytes"] == manifest["bytes"]
    assert complete["run_id"] == manifest["run_id"] and complete["age_seconds"] >= 0
    assert failed["complete"] is False and failed["reason"]
    assert vars_["lock"] is None

    # SPEC form: the spec's output and exports; no credentials needed (offline reading).
    text = cli("ls", str(spec), env={**os.environ, "UNUSED": "1"})
    assert text.returncode == 0, text.stderr
    assert "vars: " in text.stdout and "complete" in text.stdout and "failed" in text.stdout
    assert f"{manifest['records']:,} records" in text.stdout

    missing = cli("ls", str(tmp_path / "nothing-here"))
    assert missing.returncode == 0 and "no exports" in missing.stdout


# -- validate --offline ------------------------------------------------------------------------

OFFLINE_SPEC = """version: 1
source:
  base_url: ${OPS_TEST_BASE_URL}
  auth: {mode: saas, client_id: '${OPS_TEST_CLIENT_ID}', client_secret: '${OPS_TEST_SECRET}'}
concurrency: ${OPS_TEST_CONCURRENCY}
exports:
  - {endpoint: ENDPOINT, filter: {state: ACTIVE}}
output: {format: parquet, path: ./exports}
"""


def offline_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OPS_TEST_")}


def test_validate_offline_reports_unset_variables_as_placeholders(tmp_path: Path) -> None:
    spec = tmp_path / "ci.yaml"
    spec.write_text(OFFLINE_SPEC.replace("ENDPOINT", "incidents"))
    online = cli("validate", str(spec), env=offline_env())
    assert online.returncode == 2
    assert "OPS_TEST_SECRET is not set" in online.stderr

    offline = cli("validate", "--offline", str(spec), env=offline_env())
    assert offline.returncode == 0, offline.stderr
    for name, path in (
        ("OPS_TEST_BASE_URL", "source.base_url"),
        ("OPS_TEST_SECRET", "source.auth.client_secret"),
        ("OPS_TEST_CONCURRENCY", "concurrency"),
    ):
        assert f"{name} ({path})" in offline.stdout
    assert "4 unset placeholders" in offline.stdout

    # Everything else is still checked: a wrong endpoint and a wrong filter value.
    spec.write_text(OFFLINE_SPEC.replace("ENDPOINT", "incident").replace("ACTIVE", "x"))
    bad = cli("validate", "--offline", str(spec), env=offline_env())
    assert bad.returncode == 2
    assert "exports[0].endpoint: unknown endpoint 'incident'" in bad.stderr

    spec.write_text(OFFLINE_SPEC.replace("ENDPOINT", "incidents").replace("ACTIVE", "RUNNING"))
    bad = cli("validate", "--offline", str(spec), env=offline_env())
    assert bad.returncode == 2 and "exports[0].filter.state" in bad.stderr


# -- exit codes, version -----------------------------------------------------------------------

EXIT_CODES = {0: "success", 1: "an export failed", 2: "invalid job spec", 75: "another run"}


def test_exit_codes_through_the_cli_and_documented(make_simulator: MakeSim, tmp_path: Path) -> None:
    sim = make_simulator(scale=50)
    spec = write_spec(tmp_path / "ok.yaml", sim.base_url, tmp_path / "out", SLOW_EXPORTS)
    assert cli("run", str(spec)).returncode == 0
    dead = write_spec(tmp_path / "dead.yaml", "http://127.0.0.1:9", tmp_path / "o", SLOW_EXPORTS)
    assert cli("run", str(dead)).returncode == 1
    spec.write_text(spec.read_text().replace("version: 1", "version: 7"))
    assert cli("run", str(spec)).returncode == 2
    assert cli("run", str(spec), "--no-such-option").returncode == 2
    # 75: test_a_second_run_of_the_same_exports_exits_75_naming_the_holder_while_others_go_ahead

    help_text = cli("--help").stdout + cli("run", "--help").stdout
    readme = (REPO / "README.md").read_text()
    for code, meaning in EXIT_CODES.items():
        assert re.search(rf"^ +{code} +{meaning}", help_text, re.MULTILINE), code
        assert f"| {code} | {meaning}" in readme


def test_version_and_completion_documented() -> None:
    shown = cli("--version")
    assert (
        shown.returncode == 0 and shown.stdout.strip() == f"operate-export, version {__version__}"
    )
    env = {**os.environ, "_OPERATE_EXPORT_COMPLETE": "bash_source"}
    script = subprocess.run(
        [sys.executable, "-m", "exporter"], cwd=REPO, capture_output=True, text=True, env=env
    )
    assert "_operate_export_completion" in script.stdout
    assert "_OPERATE_EXPORT_COMPLETE=bash_source" in (REPO / "README.md").read_text()


# -- deploy/ -----------------------------------------------------------------------------------

SECRET_ENV = ("OPERATE_CLIENT_SECRET", "OPERATE_CLIENT_ID", "OPERATE_PASSWORD", "OPERATE_USERNAME")


def test_kubernetes_cronjob_manifest() -> None:
    import yaml

    documents = [
        doc
        for path in sorted((REPO / "deploy").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
    ]
    jobs = [doc for doc in documents if doc and doc.get("kind") == "CronJob"]
    assert jobs, "deploy/ holds no CronJob"
    for job in jobs:
        spec = job["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        (container,) = pod["containers"]
        args = container["args"]
        assert args[0] == "run" and "--resume=auto" in args
        assert any(a.startswith("--metrics-file=") and a.endswith(".prom") for a in args)
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        metrics_dir = next(a for a in args if a.startswith("--metrics-file=")).split("=", 1)[1]
        assert os.path.dirname(metrics_dir) in mounts, "the metrics file is not on a volume"
        assert container["resources"]["requests"] and container["resources"]["limits"]
        env = {e["name"]: e for e in container["env"]}
        for name in SECRET_ENV:
            if name in env:
                assert "value" not in env[name], f"{name} is a literal in the manifest"
                assert env[name]["valueFrom"]["secretKeyRef"]["name"]
        assert "OPERATE_CLIENT_SECRET" in env
    # The arguments parse as a real run's would: the options exist.
    help_text = cli("run", "--help").stdout
    for option in ("--resume", "--log-format", "--metrics-file"):
        assert option in help_text


def fake_window_snapshot(out: Path, export: str, name: str, start: int, end: int) -> None:
    """A complete snapshot as an incremental run records it (only the fields ls reads)."""
    directory = out / export / f"snapshot={name}"
    directory.mkdir(parents=True)
    iso = {
        ms: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".000Z"
        for ms in (start, end)
    }
    manifest = {
        "export": export,
        "records": 3,
        "bytes": 10,
        "files": [],
        "started_at": iso[end],
        "finished_at": iso[end],
        "run_id": "r",
        "incremental": {
            "mode": "incremental",
            "field": "endDate",
            "from": iso[start],
            "to": iso[end],
            "from_ms": start,
            "to_ms": end,
        },
    }
    (directory / MANIFEST_NAME).write_bytes(orjson.dumps(manifest))


def test_watermark_of_incremental_windows_in_ls_and_metrics(tmp_path: Path) -> None:
    out = tmp_path / "out"
    hour = 3_600_000
    base = 1_795_737_600_000  # 2026-11-27T00:00:00Z
    # Windows [0,1h) [1h,2h) and [3h,4h): the watermark stops at the gap, 2h.
    for i, (lo, hi) in enumerate([(0, 1), (1, 2), (3, 4)]):
        fake_window_snapshot(
            out, "ended", f"20261127T0{i}0000Z", base + lo * hour, base + hi * hour
        )
    listed = orjson.loads(cli("ls", str(out), "--json").stdout)
    (export,) = listed["exports"]
    assert export["watermark"] == "2026-11-27T02:00:00.000Z"
    assert export["snapshots"][0]["windows"][0]["from"] == "2026-11-27T00:00:00.000Z"

    # A second export whose first window [0,1h) failed: only [1h,2h) is committed. Without
    # the spec, ls counts from the earliest committed window; the metrics file counts from
    # the spec's start, as `state` does, so its watermark stays at the start.
    fake_window_snapshot(out, "gap", "20261127T020000Z", base + 1 * hour, base + 2 * hour)
    incremental = "incremental: {field: endDate, start: '2026-11-27T00:00:00Z'}"
    spec = write_spec(
        tmp_path / "inc.yaml",
        "http://127.0.0.1:9",
        out,
        f"  - {{endpoint: process-instances, name: ended, {incremental}}}\n"
        f"  - {{endpoint: process-instances, name: gap, {incremental}}}\n",
    )
    prom = tmp_path / "inc.prom"
    assert cli("run", str(spec), "--metrics-file", str(prom)).returncode == 1
    found = metrics(prom)
    assert (
        sample(found, "watermark_timestamp_seconds", spec="inc", export="ended")
        == (base + 2 * hour) / 1000
    )
    assert sample(found, "watermark_timestamp_seconds", spec="inc", export="gap") == base / 1000
    assert (
        sample(found, "last_success_timestamp_seconds", spec="inc", export="ended")
        == (base + 4 * hour) / 1000
    )


def test_dump_to_a_path_carries_the_run_id_in_its_json_lines_and_manifest(
    simulator: Simulator, tmp_path: Path
) -> None:
    env = {**os.environ, "OPERATE_BASE_URL": simulator.base_url}
    done = cli(
        "dump", "incidents", "--api", "v1", "-o", str(tmp_path), "--log-format", "json", env=env
    )
    assert done.returncode == 0, done.stderr
    run_ids = {orjson.loads(line).get("run_id") for line in done.stderr.splitlines()}
    (manifest,) = manifests(tmp_path, "incidents")
    assert run_ids == {manifest["run_id"]} and manifest["run_id"]


def test_dump_to_a_path_writes_the_metrics_file_as_run_does(
    make_simulator: MakeSim, tmp_path: Path
) -> None:
    sim = make_simulator(scale=100)
    env = {**os.environ, "OPERATE_BASE_URL": sim.base_url}
    prom = tmp_path / "incidents.prom"
    args = ("dump", "incidents", "--api", "v1", "-o", str(tmp_path / "out"))
    done = cli(*args, "--metrics-file", str(prom), env=env)
    assert done.returncode == 0, done.stderr
    (manifest,) = manifests(tmp_path / "out", "incidents")
    found = metrics(prom)
    labels = {"spec": "dump", "export": "incidents"}
    assert sample(found, "records", **labels) == manifest["records"]
    assert manifest["records"] == len(sim.dataset.records("incidents")) > 0
    assert sample(found, "bytes", **labels) == manifest["bytes"] > 0
    assert sample(found, "requests", **labels) == manifest["extra"]["requests"] > 0
    assert sample(found, "success", **labels) == 1
    assert sample(found, "run_exit_code", spec="dump") == 0
    last_success = sample(found, "last_success_timestamp_seconds", **labels)
    assert abs(last_success - time.time()) < 600

    # A failed dump: exit 1 in the file, the last success carried over.
    sim.stop()
    failed = cli(*args, "--metrics-file", str(prom), env=env)
    assert failed.returncode == 1, failed.stderr
    found = metrics(prom)
    assert sample(found, "success", **labels) == 0
    assert sample(found, "run_exit_code", spec="dump") == 1
    assert sample(found, "last_success_timestamp_seconds", **labels) == last_success

    # A dump to stdout has no snapshot to describe: refused before any request.
    streamed = cli("dump", "incidents", "--metrics-file", str(tmp_path / "s.prom"), env=env)
    assert streamed.returncode == 2
    assert "--metrics-file" in streamed.stderr and "-o PATH" in streamed.stderr
    assert not (tmp_path / "s.prom").exists()
