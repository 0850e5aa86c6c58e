"""``operate-export run`` end to end: CliRunner for the options, one real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
from click.testing import CliRunner

from exporter.cli.app import cli
from exporter.simulator import Simulator
from exporter.sinks import MANIFEST_NAME


def write_spec(path: Path, base_url: str, out: Path, extra_exports: str = "") -> Path:
    path.write_text(
        f"""
version: 1
source: {{base_url: "{base_url}"}}
exports:
  - {{endpoint: incidents, name: inc, page_size: 5}}
  - {{endpoint: variables, name: var, page_size: 200}}
{extra_exports}
output: {{format: jsonl, path: "{out}"}}
"""
    )
    return path


def test_run_prints_a_summary_and_writes_snapshots(simulator: Simulator, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "job.yaml", simulator.base_url, tmp_path / "out")
    result = CliRunner().invoke(cli, ["run", str(spec)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["export", "status", "records", "pages"]
    assert lines[1].split()[:4] == ["inc", "ok", "14", "3"]
    assert lines[2].split()[:3] == ["var", "ok", "900"]
    assert len(list((tmp_path / "out").rglob(MANIFEST_NAME))) == 2
    # Not a TTY: plain log lines on stderr, no cursor movement.
    assert "export=inc ok records=14 pages=3" in result.stderr
    assert "\x1b[" not in result.stderr


def test_invalid_spec_exits_2_before_any_request(simulator: Simulator, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        f'version: 1\nsource: {{base_url: "{simulator.base_url}"}}\n'
        "exports:\n  - {endpoint: process-instance}\n"
    )
    simulator.reset_stats()
    result = CliRunner().invoke(cli, ["run", str(spec)])
    assert result.exit_code == 2
    assert "exports[0].endpoint" in result.stderr
    assert simulator.stats()["requests"] == 0


def test_unknown_only_name_is_a_usage_error(simulator: Simulator, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "job.yaml", simulator.base_url, tmp_path / "out")
    result = CliRunner().invoke(cli, ["run", str(spec), "--only", "nope"])
    assert result.exit_code == 2
    assert "unknown export(s) nope" in result.stderr


def test_dry_run_prints_bodies_and_totals_and_writes_nothing(
    make_simulator: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = make_simulator(scale=2500, seed=3)
    extra = "  - {endpoint: flownode-instances, name: fni, sort: [{field: startDate, order: DESC}]}"
    spec = write_spec(tmp_path / "job.yaml", sim.base_url, tmp_path / "out", extra)
    result = CliRunner().invoke(cli, ["run", str(spec), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "fni (flownode-instances): total 10000+" in result.stdout
    body = '{"size":1000,"sort":[{"field":"startDate","order":"DESC"}]}'
    assert f"POST /v1/flownode-instances/search {body}" in result.stdout
    assert 'POST /v1/incidents/search {"size":5}' in result.stdout
    assert not (tmp_path / "out").exists()


def test_json_log_format_is_json_lines(simulator: Simulator, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "job.yaml", simulator.base_url, tmp_path / "out")
    result = CliRunner().invoke(cli, ["run", str(spec), "--log-format", "json"])
    assert result.exit_code == 0, result.output
    events = [orjson.loads(line) for line in result.stderr.splitlines()]
    assert {e["event"] for e in events} >= {"export_started", "export_finished", "run_finished"}
    summary = orjson.loads(result.stdout)
    assert summary["ok"] is True
    assert {e["export"]: e["records"] for e in summary["exports"]} == {"inc": 14, "var": 900}


def test_quiet_prints_nothing_but_errors(simulator: Simulator, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "job.yaml", simulator.base_url, tmp_path / "out")
    result = CliRunner().invoke(cli, ["run", str(spec), "--quiet"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == ""
    # A server that refuses connections: quiet still names each failed export on stderr.
    dead = tmp_path / "dead.yaml"
    dead.write_text(
        'version: 1\nsource: {base_url: "http://127.0.0.1:9", retry: {max_attempts: 1}}\n'
        f'exports:\n  - {{endpoint: incidents, name: inc}}\noutput: {{path: "{tmp_path / "o"}"}}\n'
    )
    failed = CliRunner().invoke(cli, ["run", str(dead), "--quiet"])
    assert failed.exit_code == 1
    assert failed.stdout == ""
    assert "error: export 'inc' failed:" in failed.stderr
    assert "export=" not in failed.stderr  # no progress lines


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(cli, ["run", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "operate-export run configs/demo.yaml --dry-run" in result.output


def test_subprocess_run_resume_and_exit_code(simulator: Simulator, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "job.yaml", simulator.base_url, tmp_path / "out")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "run", str(spec), "--only", "inc", "--resume"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].split()[:3] == ["inc", "ok", "14"]
    manifests = list((tmp_path / "out" / "inc").rglob(MANIFEST_NAME))
    assert len(manifests) == 1
    assert orjson.loads(manifests[0].read_bytes())["records"] == 14
