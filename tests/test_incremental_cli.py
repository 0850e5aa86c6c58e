"""``operate-export state`` and ``run --from/--to`` (issue 15 point 5), the retention guard
(point 6), against the simulator."""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from exporter.cli.app import cli


def write_spec(path: Path, base_url: str, out: Path, **incremental: Any) -> Path:
    document = {
        "version": 1,
        "source": {"base_url": base_url, "api": "v2"},
        "retention": "P30D",
        "exports": [
            {
                "endpoint": "process-instances",
                "name": "finished",
                "incremental": {"field": "endDate", "window": "P1D", **incremental},
            },
            {"endpoint": "process-definitions", "name": "definitions"},
        ],
        "output": {"format": "jsonl", "path": str(out)},
    }
    path.write_text(yaml.safe_dump(document))
    return path


def manifests(out: Path, name: str) -> list[dict[str, Any]]:
    paths = sorted(glob.glob(str(out / name / "snapshot=*" / "_manifest.json")))
    return [json.loads(Path(p).read_text()) for p in paths]


def test_state_shows_the_watermark_and_run_from_does_not_move_it(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(scale=200, seed=8, api="both")  # its clock: 2026-11-27T00:00:00Z
    out = tmp_path / "out"
    spec = write_spec(tmp_path / "job.yaml", sim.base_url, out, start="2026-11-20T00:00:00Z")
    runner = CliRunner()
    assert runner.invoke(cli, ["run", str(spec), "--quiet"]).exit_code == 0
    windows = sorted(
        (m["incremental"] for m in manifests(out, "finished")), key=lambda w: w["from"]
    )
    # six whole days and the last one up to the cutoff (the server's 00:00 - 15 min)
    assert [w["from"][:10] for w in windows] == [f"2026-11-{d}" for d in range(20, 27)]
    assert windows[-1]["to"] == "2026-11-26T23:45:00.000Z"
    shown = runner.invoke(cli, ["state", str(spec), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    [state] = json.loads(shown.output)
    records = sum(m["records"] for m in manifests(out, "finished"))
    assert state["watermark"] == "2026-11-26T23:45:00.000Z"
    assert state["snapshots"] == 7 and state["records"] == records > 0
    text = runner.invoke(cli, ["state", str(spec)]).output
    assert "finished (process-instances, endDate): watermark 2026-11-26T23:45:00.000Z" in text

    ranged = runner.invoke(
        cli,
        [
            "run",
            str(spec),
            "--quiet",
            "--only",
            "finished",
            "--from",
            "2026-11-21T00:00:00Z",
            "--to",
            "2026-11-22T00:00:00Z",
        ],
    )
    assert ranged.exit_code == 0, ranged.output
    ranged_windows = [
        m["incremental"] for m in manifests(out, "finished") if m["incremental"]["mode"] == "range"
    ]
    assert [w["from"] for w in ranged_windows] == ["2026-11-21T00:00:00.000Z"]
    again = json.loads(runner.invoke(cli, ["state", str(spec), "--format", "json"]).output)
    assert again[0]["watermark"] == state["watermark"] and again[0]["snapshots"] == 7


def test_run_from_usage_errors_exit_2_without_a_request(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(scale=20, seed=1, api="both")
    spec = write_spec(tmp_path / "job.yaml", sim.base_url, tmp_path / "out")
    runner = CliRunner()
    full = runner.invoke(cli, ["run", str(spec), "--from", "-2d"])
    assert full.exit_code == 2 and "definitions has no incremental key" in full.output
    backwards = runner.invoke(
        cli, ["run", str(spec), "--only", "finished", "--from", "-1d", "--to", "-2d"]
    )
    assert backwards.exit_code == 2 and "is not after --from" in backwards.output
    bad = runner.invoke(cli, ["run", str(spec), "--only", "finished", "--from", "yesterday"])
    assert bad.exit_code == 2 and "--from 'yesterday'" in bad.output
    assert not glob.glob(str(tmp_path / "out" / "finished" / "snapshot=*"))


def test_retention_guard_warns_and_records_the_range(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=100, seed=3, api="both")
    out = tmp_path / "out"
    spec = write_spec(tmp_path / "job.yaml", sim.base_url, out, start="-32d", window="P1D")
    result = CliRunner().invoke(cli, ["run", str(spec), "--only", "finished"])
    assert result.exit_code == 0, result.output
    assert "older than the retention" in result.output
    windows = sorted(
        (m["incremental"] for m in manifests(out, "finished")), key=lambda w: w["from"]
    )
    warned = [w["retention_warning"] for w in windows]
    assert warned[0].startswith("[2026-10-26T00:00:00.000Z, 2026-10-28T00:00:00.000Z)")
    assert warned[-1] is None  # recent windows carry no warning
