"""Issue 11 point 6: SIGINT and SIGTERM stop a run promptly, resumably, with exit 130 / 143.

The real CLI runs as a subprocess against the simulator, slowed by its ``latency_ms`` fault so
that the signal lands mid-export (after the first durable part, found by polling the snapshot
directory, never by sleeping blind). Each case checks the exit code, that the process is gone
within a generous bound, that the interrupted snapshot has ``_INCOMPLETE`` and no manifest, and
that ``--resume`` completes it to exactly the records of an uninterrupted run. Further cases
stop a run while a request is on the wire (the grace watchdog), while a retry backoff sleeps,
and with a second signal.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from exporter.pipeline.interrupt import GRACE_SECONDS
from exporter.simulator import FaultConfig, Simulator
from exporter.sinks import CHECKPOINT_NAME, INCOMPLETE_NAME, MANIFEST_NAME

MakeSim = Callable[..., Simulator]
REPO = Path(__file__).resolve().parent.parent
HANG_GUARD_SECONDS = 60.0  # only stops a broken run from hanging the suite
# A clean stop takes ~0.2 s and the watchdog ends a stuck one after 2 s; the bound only has to
# tell "stopped" from "kept running" (a whole export takes far longer), and a 2-core CI box
# running the suite in parallel has been seen to take 7.8 s to schedule a clean stop.
STOP_BOUND_SECONDS = 20.0
ROWS_PER_FILE = 40
EXPORTS = ("vars", "nodes")  # variables (hydrated: truncated values) and flow node instances


def write_spec(path: Path, base_url: str, out: Path, api: str, retry: str = "") -> Path:
    retry = retry or "{initial_backoff_seconds: 0.01}"
    path.write_text(
        f"""version: 1
source: {{base_url: "{base_url}", api: {api}, retry: {retry}}}
concurrency: 2
hydration_concurrency: 3
exports:
  - {{endpoint: variables, name: vars, page_size: 5}}
  - {{endpoint: flownode-instances, name: nodes, page_size: 25}}
output: {{format: parquet, path: "{out}", rows_per_file: {ROWS_PER_FILE}, row_group_size: 15}}
"""
    )
    return path


def start_run(spec: Path, *options: str) -> subprocess.Popen[bytes]:
    log = spec.parent / f"run-{time.monotonic_ns()}.log"
    with log.open("wb") as sink:  # a file, not a pipe: a full pipe would stall the child
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "run", str(spec), *options],
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    proc.log = log  # type: ignore[attr-defined]
    return proc


def output_of(proc: subprocess.Popen[bytes]) -> str:
    return Path(proc.log).read_text()  # type: ignore[attr-defined]


def run_to_end(spec: Path, *options: str) -> str:
    proc = start_run(spec, *options)
    code = proc.wait(timeout=HANG_GUARD_SECONDS)
    assert code == 0, f"exit {code}:\n{output_of(proc)}"
    return output_of(proc)


def newest_snapshot(out: Path, export: str) -> Path | None:
    found = sorted((out / export).glob("snapshot=*")) if (out / export).exists() else []
    return found[-1] if found else None


def has(out: Path, export: str, name: str) -> bool:
    newest = newest_snapshot(out, export)
    return newest is not None and (newest / name).exists()


def wait_for(proc: subprocess.Popen[bytes], reached: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while not reached():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"hang guard: never reached {what}")
        time.sleep(0.005)


def signal_and_time(proc: subprocess.Popen[bytes], signum: int) -> tuple[int, float]:
    """Send ``signum``; (exit code, seconds until the process was gone)."""
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        code = proc.wait(timeout=HANG_GUARD_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"the run ignored signal {signum}:\n{output_of(proc)}")
    return code, time.monotonic() - sent


def records(out: Path, export: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The newest snapshot, complete: its manifest and its rows in part order."""
    newest = newest_snapshot(out, export)
    assert newest is not None
    manifest = orjson.loads((newest / MANIFEST_NAME).read_bytes())
    assert not (newest / INCOMPLETE_NAME).exists()
    rows: list[dict[str, Any]] = []
    for entry in manifest["files"]:
        rows += pq.read_table(newest / entry["name"]).to_pylist()
    assert manifest["records"] == len(rows)
    return manifest, rows


def assert_interrupted(out: Path, signum: int) -> list[str]:
    """Every unfinished export: no manifest, an _INCOMPLETE marker. Returns their names."""
    unfinished = [e for e in EXPORTS if not has(out, e, MANIFEST_NAME)]
    assert "vars" in unfinished, "the signal came after the slow export had finished"
    for export in unfinished:
        newest = newest_snapshot(out, export)
        assert newest is not None
        marker = orjson.loads((newest / INCOMPLETE_NAME).read_bytes())
        assert marker["status"] == "interrupted", marker
        assert signal.Signals(signum).name in marker["reason"]
        assert marker["durable_parts"] >= (1 if export == "vars" else 0)
    return unfinished


def interrupt_mid_export(spec: Path, out: Path, signum: int) -> tuple[int, float, str]:
    """Start the run, send ``signum`` once its first durable part is written: (exit code,
    seconds to exit, log). The precondition, a signal landing while the slow export still
    runs, is timing: twice under heavy load (suites of other sessions on 2 cores) the test saw
    the part only when the 38 s export had finished (cause not found: the poll runs every
    5 ms). A run that finished before its signal proves nothing either way, so it is started
    again, at most three times; any other outcome is returned and judged."""
    for _attempt in range(3):
        shutil.rmtree(out, ignore_errors=True)
        proc = start_run(spec)
        wait_for(proc, lambda: has(out, "vars", CHECKPOINT_NAME), "the first durable part")
        code, seconds = signal_and_time(proc, signum)
        log = output_of(proc)
        finished_first = code == 0 and "export=vars ok" in log
        if not finished_first:
            return code, seconds, log
    pytest.fail(f"three runs finished before the signal could land mid-export:\n{log}")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("api", ["v1", "v2"])
def test_signal_mid_export_exits_128_plus_n_and_resume_completes_the_snapshot(
    make_simulator: MakeSim, tmp_path: Path, api: str, signum: int
) -> None:
    sim = make_simulator(scale=150, seed=5, api=api, variable_threshold=40)
    baseline_out = tmp_path / "baseline"
    run_to_end(write_spec(tmp_path / "baseline.yaml", sim.base_url, baseline_out, api))
    baseline = {name: records(baseline_out, name)[1] for name in EXPORTS}
    assert len(baseline["vars"]) > 4 * ROWS_PER_FILE

    out = tmp_path / "out"
    spec = write_spec(tmp_path / "job.yaml", sim.base_url, out, api)
    # Slow requests from the start: the export (90 pages of variables plus their lookups) is
    # still going when the signal lands after its first durable part, however loaded the
    # machine is (a request on the wire still ends well inside the grace). Slowing down only
    # after the first part still let the export finish first once on a loaded CI box.
    sim.set_faults(FaultConfig(latency_ms=400))
    code, seconds, log = interrupt_mid_export(spec, out, signum)
    assert code == 128 + signum, log
    assert seconds < STOP_BOUND_SECONDS, log
    assert "did not stop within" not in log, "stopped by the watchdog, not by the stop flag"
    # Each stopped export's reason is printed once, and names the way out.
    for export in assert_interrupted(out, signum):
        line = f"error: export {export!r} stopped: interrupted by {signal.Signals(signum).name}"
        assert log.count(line) == 1, log
    assert "run again with --resume" in log

    sim.set_faults(FaultConfig(latency_ms=0))
    run_to_end(spec, "--resume")
    for name in EXPORTS:
        assert records(out, name)[1] == baseline[name], name
    vars_manifest = records(out, "vars")[0]
    assert len(vars_manifest["resumed_at"]) == 1  # the interrupted snapshot itself was finished
    assert len(list((out / "vars").glob("snapshot=*"))) == 1


@pytest.mark.slow
def test_a_request_on_the_wire_cannot_hold_the_process_past_the_grace(
    make_simulator: MakeSim, tmp_path: Path
) -> None:
    sim = make_simulator(scale=40, seed=5, faults=FaultConfig(latency_ms=30_000))
    out = tmp_path / "out"
    proc = start_run(write_spec(tmp_path / "job.yaml", sim.base_url, out, "v1"))
    wait_for(proc, lambda: has(out, "vars", INCOMPLETE_NAME), "the snapshot directory")
    wait_for(proc, lambda: sim.stats()["requests"] >= 2, "both searches in flight")
    code, seconds = signal_and_time(proc, signal.SIGTERM)
    log = output_of(proc)
    assert code == 143, log
    assert seconds < STOP_BOUND_SECONDS, log
    assert f"did not stop within {GRACE_SECONDS:g} s after SIGTERM" in log
    for export in EXPORTS:
        assert has(out, export, INCOMPLETE_NAME) and not has(out, export, MANIFEST_NAME)


@pytest.mark.slow
def test_a_retry_backoff_ends_at_the_signal(make_simulator: MakeSim, tmp_path: Path) -> None:
    sim = make_simulator(scale=40, seed=5, faults=FaultConfig(rate_503=1.0, retry_after=0))
    out = tmp_path / "out"
    retry = "{max_attempts: 4, initial_backoff_seconds: 60, max_backoff_seconds: 60}"
    proc = start_run(write_spec(tmp_path / "job.yaml", sim.base_url, out, "v1", retry))
    wait_for(proc, lambda: "retrying POST" in output_of(proc), "a retry backoff")
    code, seconds = signal_and_time(proc, signal.SIGINT)
    log = output_of(proc)
    assert code == 130, log
    assert seconds < STOP_BOUND_SECONDS, log
    assert "did not stop within" not in log, "the backoff sleep did not see the stop"
    for export in EXPORTS:
        newest = newest_snapshot(out, export)
        assert newest is not None and not (newest / MANIFEST_NAME).exists()
        marker = orjson.loads((newest / INCOMPLETE_NAME).read_bytes())
        assert marker["status"] == "interrupted"


@pytest.mark.slow
def test_a_second_signal_exits_at_once(make_simulator: MakeSim, tmp_path: Path) -> None:
    sim = make_simulator(scale=40, seed=5, faults=FaultConfig(latency_ms=30_000))
    out = tmp_path / "out"
    proc = start_run(write_spec(tmp_path / "job.yaml", sim.base_url, out, "v1"))
    wait_for(proc, lambda: sim.stats()["requests"] >= 2, "both searches in flight")
    proc.send_signal(signal.SIGINT)
    wait_for(proc, lambda: "SIGINT received" in output_of(proc), "the first signal handled")
    code, _ = signal_and_time(proc, signal.SIGINT)
    log = output_of(proc)
    assert code == 130, log
    assert "SIGINT again: exiting now" in log
    assert "did not stop within" not in log  # the second signal, not the watchdog, ended it
    assert has(out, "vars", INCOMPLETE_NAME) and not has(out, "vars", MANIFEST_NAME)


def test_exit_codes_are_documented() -> None:
    from click.testing import CliRunner

    from exporter.cli.app import cli

    help_text = CliRunner().invoke(cli, ["run", "--help"]).output
    readme = (REPO / "README.md").read_text()
    for code, signame in ((130, "SIGINT"), (143, "SIGTERM")):
        assert f"{code}  stopped by {signame}" in help_text
        assert f"| {code} | stopped by {signame}" in readme
