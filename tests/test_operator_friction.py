"""Issue 11 point 8 (the runtime part): what got in an operator's way on the trial run.

* ``--resume=auto`` continues a compatible incomplete snapshot, and starts a fresh one (saying
  why on stderr) when the spec changed, where plain ``--resume`` still refuses;
* a failed export's error is printed once, on stderr;
* JSON events and the JSON summary name the export ``export`` everywhere;
* the dry-run JSON says when a total is the search engine's cap (a lower bound);
* ``_INCOMPLETE`` counts the durable parts as they become durable (checked after a SIGKILL);
* the README's pandas recipe reads every int64 key of a real export exactly.

The CLI runs for real: in a subprocess where a process has to be killed, else through click's
CliRunner; the server is always the bundled simulator.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from exporter.api import get_endpoint
from exporter.api.types import Kind
from exporter.cli.app import cli
from exporter.simulator import FaultConfig, Simulator
from exporter.sinks import CHECKPOINT_NAME, INCOMPLETE_NAME, MANIFEST_NAME

MakeSim = Callable[..., Simulator]
REPO = Path(__file__).resolve().parent.parent
HANG_GUARD_SECONDS = 60.0  # only stops a broken run from hanging the suite
ROWS_PER_FILE = 30


def write_spec(path: Path, base_url: str, out: Path, compression: str = "zstd") -> Path:
    path.write_text(
        f"""version: 1
source: {{base_url: "{base_url}", api: v1, retry: {{initial_backoff_seconds: 0.01}}}}
exports:
  - {{endpoint: variables, name: vars, page_size: 15}}
output: {{format: parquet, schema: native, compression: {compression}, path: "{out}",
          rows_per_file: {ROWS_PER_FILE}, row_group_size: 10}}
"""
    )
    return path


def snapshots(out: Path, export: str = "vars") -> list[Path]:
    return sorted((out / export).glob("snapshot=*")) if (out / export).exists() else []


def durable_parts(out: Path) -> int:
    found = snapshots(out)
    if not found:
        return 0
    try:
        return len(orjson.loads((found[-1] / CHECKPOINT_NAME).read_bytes())["parts"])
    except FileNotFoundError:
        return 0


def kill_after_parts(spec: Path, out: Path, parts: int) -> None:
    """Run the CLI and SIGKILL it once the checkpoint lists ``parts`` durable parts."""
    with (spec.parent / "killed.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "run", str(spec)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while durable_parts(out) < parts:
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before {parts} durable parts")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail("hang guard: the parts never became durable")
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=HANG_GUARD_SECONDS) == -signal.SIGKILL


def read_rows(snapshot: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    manifest = orjson.loads((snapshot / MANIFEST_NAME).read_bytes())
    rows: list[dict[str, Any]] = []
    for entry in manifest["files"]:
        rows += pq.read_table(snapshot / entry["name"]).to_pylist()
    return rows


@pytest.fixture
def killed(make_simulator: MakeSim, tmp_path: Path) -> tuple[Simulator, Path, Path]:
    """(simulator, spec, output): a run SIGKILLed after its third durable part."""
    sim = make_simulator(scale=80, seed=9, faults=FaultConfig(latency_ms=25))
    out = tmp_path / "out"
    spec = write_spec(tmp_path / "job.yaml", sim.base_url, out)
    kill_after_parts(spec, out, 3)
    sim.set_faults(FaultConfig(latency_ms=0))
    return sim, spec, out


# --------------------------------------------------------------------------- _INCOMPLETE


@pytest.mark.slow
def test_incomplete_marker_counts_the_durable_parts_after_a_sigkill(
    killed: tuple[Simulator, Path, Path],
) -> None:
    _, _, out = killed
    (snapshot,) = snapshots(out)
    assert not (snapshot / MANIFEST_NAME).exists()
    marker = orjson.loads((snapshot / INCOMPLETE_NAME).read_bytes())
    checkpoint = orjson.loads((snapshot / CHECKPOINT_NAME).read_bytes())
    assert marker["status"] == "in progress"
    # The marker is rewritten right after each checkpoint: a kill between the two writes
    # leaves it at most one part behind, never at the 0 it was written with.
    parts = len(checkpoint["parts"])
    assert parts >= 3
    assert marker["durable_parts"] in (parts - 1, parts)
    counted = checkpoint["parts"][: marker["durable_parts"]]
    assert marker["durable_records"] == sum(p["rows"] for p in counted) > 0


# --------------------------------------------------------------------------- --resume=auto


@pytest.mark.slow
def test_resume_auto_continues_a_compatible_snapshot(
    killed: tuple[Simulator, Path, Path], tmp_path: Path
) -> None:
    sim, spec, out = killed
    result = CliRunner().invoke(cli, ["run", str(spec), "--resume=auto"])
    assert result.exit_code == 0, result.output
    assert "not resuming" not in result.stderr
    (snapshot,) = snapshots(out)  # the killed snapshot itself was completed
    manifest = orjson.loads((snapshot / MANIFEST_NAME).read_bytes())
    assert len(manifest["resumed_at"]) == 1
    clean = tmp_path / "clean"
    clean_spec = write_spec(tmp_path / "clean.yaml", sim.base_url, clean)
    fresh = CliRunner().invoke(cli, ["run", str(clean_spec)])
    assert fresh.exit_code == 0, fresh.output
    assert read_rows(snapshot) == read_rows(snapshots(clean)[0])


@pytest.mark.slow
def test_resume_auto_starts_fresh_after_a_spec_change_and_says_why(
    killed: tuple[Simulator, Path, Path],
) -> None:
    sim, spec, out = killed
    write_spec(spec, sim.base_url, out, compression="snappy")  # changes the export digest
    (stale,) = snapshots(out)

    strict = CliRunner().invoke(cli, ["run", str(spec), "--resume"])
    assert strict.exit_code == 1
    assert "cannot resume" in strict.stderr and "different compression" in strict.stderr
    assert "--resume=auto" in strict.stderr  # the refusal points to the way out
    assert snapshots(out) == [stale]

    auto = CliRunner().invoke(cli, ["run", str(spec), "--resume=auto"])
    assert auto.exit_code == 0, auto.output
    assert "--resume=auto: not resuming" in auto.stderr
    assert "different compression" in auto.stderr
    assert "starting a fresh snapshot" in auto.stderr
    older, newer = snapshots(out)
    assert older == stale and not (stale / MANIFEST_NAME).exists()
    manifest = orjson.loads((newer / MANIFEST_NAME).read_bytes())
    assert manifest["resumed_at"] == [] and manifest["compression"] == "snappy"
    assert manifest["records"] == len(sim.dataset.records("variables"))


def test_resume_without_value_never_swallows_the_spec_argument(
    simulator: Simulator, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path / "job.yaml", simulator.base_url, tmp_path / "out")
    result = CliRunner().invoke(cli, ["run", "--resume", str(spec)])
    assert result.exit_code == 0, result.output
    bad = CliRunner().invoke(cli, ["run", str(spec), "--resume=sometimes"])
    assert bad.exit_code == 2
    assert "'sometimes' is not one of" in bad.output


# --------------------------------------------------------------------------- errors and JSON


def run_failing(sim: Simulator, tmp_path: Path, *options: str) -> Any:
    """Run one export whose search answers 404 (the base URL has a wrong prefix)."""
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"""version: 1
source: {{base_url: "{sim.base_url}/nowhere", api: v1, retry: {{max_attempts: 1}}}}
exports:
  - {{endpoint: incidents, name: broken, page_size: 50}}
output: {{format: jsonl, path: "{tmp_path / "out"}"}}
"""
    )
    return CliRunner().invoke(cli, ["run", str(spec), *options])


def test_a_failed_export_is_reported_once_on_stderr(simulator: Simulator, tmp_path: Path) -> None:
    result = run_failing(simulator, tmp_path)
    assert result.exit_code == 1
    reason = "No endpoint POST /nowhere/v1/incidents/search"
    assert result.stderr.count(reason) == 1, result.stderr
    assert reason not in result.stdout
    assert "error: export 'broken' failed: POST" in result.stderr
    assert result.stdout.splitlines()[1].split()[:2] == ["broken", "FAILED"]
    assert "export=broken FAILED records=0" in result.stderr  # the log line: status only


def test_json_logs_report_a_failure_once_and_name_the_export_export(
    simulator: Simulator, tmp_path: Path
) -> None:
    result = run_failing(simulator, tmp_path, "--log-format", "json")
    assert result.exit_code == 1
    events = [orjson.loads(line) for line in result.stderr.splitlines()]  # JSON lines only
    reason = "No endpoint POST /nowhere/v1/incidents/search"
    assert [e["event"] for e in events if reason in orjson.dumps(e).decode()] == ["export_finished"]
    exported = [e for e in events if e["event"].startswith("export_")]
    assert {e["event"] for e in exported} == {"export_started", "export_finished"}
    assert all(e["export"] == "broken" and "name" not in e for e in exported)
    summary = orjson.loads(result.stdout)
    assert [(e["export"], e["ok"]) for e in summary["exports"]] == [("broken", False)]
    assert "name" not in summary["exports"][0]


def test_quiet_json_still_reports_the_failure_once_as_json(
    simulator: Simulator, tmp_path: Path
) -> None:
    result = run_failing(simulator, tmp_path, "--log-format", "json", "--quiet")
    assert result.exit_code == 1
    (event,) = [orjson.loads(line) for line in result.stderr.splitlines()]
    assert event["event"] == "export_failed" and event["export"] == "broken"
    assert "No endpoint POST /nowhere/v1/incidents/search" in event["error"]


def test_dry_run_json_says_when_the_total_is_a_lower_bound(
    make_simulator: MakeSim, tmp_path: Path
) -> None:
    sim = make_simulator(scale=2500, seed=3)
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"""version: 1
source: {{base_url: "{sim.base_url}", api: v1}}
exports:
  - {{endpoint: flownode-instances, name: nodes}}
  - {{endpoint: process-definitions, name: defs}}
output: {{path: "{tmp_path / "out"}"}}
"""
    )
    text = CliRunner().invoke(cli, ["run", str(spec), "--dry-run"])
    assert "nodes (flownode-instances): total 10000+" in text.stdout
    result = CliRunner().invoke(cli, ["run", str(spec), "--dry-run", "--log-format", "json"])
    assert result.exit_code == 0, result.output
    exports = {e["export"]: e for e in orjson.loads(result.stdout)["exports"]}
    assert exports["nodes"]["total_reported"] == 10_000
    assert exports["nodes"]["total_is_lower_bound"] is True
    defs = len(sim.dataset.records("process-definitions"))
    assert exports["defs"]["total_reported"] == defs
    assert exports["defs"]["total_is_lower_bound"] is False


# --------------------------------------------------------------------------- pandas


def test_pandas_recipe_from_the_readme_reads_every_key_exactly(
    make_simulator: MakeSim, tmp_path: Path
) -> None:
    import pandas as pd  # the dev extras install it

    readme = (REPO / "README.md").read_text()
    parquet_section = readme.split("### Parquet columns", 1)[1].split("\n### ", 1)[0]
    assert 'pd.read_parquet(path, dtype_backend="pyarrow")' in parquet_section

    sim = make_simulator(scale=2000, seed=42)
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"""version: 1
source: {{base_url: "{sim.base_url}", api: v1}}
exports:
  - {{endpoint: process-instances, name: pi}}
output: {{format: parquet, schema: native, path: "{tmp_path / "out"}"}}
"""
    )
    result = CliRunner().invoke(cli, ["run", str(spec)])
    assert result.exit_code == 0, result.output
    (path,) = (tmp_path / "out" / "pi").glob("snapshot=*/part-00000.parquet")
    frame = pd.read_parquet(path, dtype_backend="pyarrow")

    truth = sim.dataset.records("process-instances")
    keys = get_endpoint("process-instances").fields_of_kind(Kind.KEY)
    nullable = [k for k in keys if any(k not in r for r in truth)]
    assert "parentKey" in nullable  # the column that came back as wrong floats
    assert sum(1 for r in truth if r.get("parentKey", 0) > 2**53) > 0
    for key in keys:
        got = [None if pd.isna(v) else int(v) for v in frame[key]]
        assert got == [r.get(key) for r in truth], key
