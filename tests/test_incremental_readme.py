"""README "Incremental exports (cron)": its spec runs against the live simulator and its DuckDB
query reads back the union of the windows, one row per key, equal to the simulator's truth."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import duckdb
import yaml

from exporter import load_spec, run_job

README = (Path(__file__).parent.parent / "README.md").read_text()
SECTION = README.split("## Incremental exports (cron)", 1)[1].split("\n## ", 1)[0]


def block(language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", SECTION, re.S)
    assert found, language
    return found.group(1)


def test_readme_spec_and_duckdb_union(
    make_simulator: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    sim = make_simulator(scale=200, seed=8, live=True, api="both")
    document = yaml.safe_load(block("yaml"))
    document["source"] = {"base_url": sim.base_url, "api": "v2"}
    document["output"]["path"] = str(tmp_path)
    spec = load_spec(document)
    assert run_job(spec).ok
    sim.clock.advance("PT2H")
    assert run_job(spec).ok
    assert "*/15 * * * *  operate-export run" in block("cron")

    monkeypatch.chdir(tmp_path)
    connection = duckdb.connect()
    statements = [s for s in block("sql").split(";") if s.strip()]
    for statement in statements[:-1]:
        connection.execute(statement)
    rows = connection.execute(statements[-1]).fetchall()
    columns = [d[0] for d in connection.description]
    keys = [row[columns.index("processInstanceKey")] for row in rows]
    manifests = [m for m in Path(tmp_path, "finished-instances").glob("*/_manifest.json")]
    assert len(manifests) >= 30  # the -30d backfill, a window per day, then the next hours
    cutoff = sim.now() - 15 * 60_000
    start = min(int(yaml.safe_load(m.read_text())["incremental"]["from_ms"]) for m in manifests)
    truth = sim.truth_window("process-instances", "endDate", start, cutoff)
    assert len(keys) == len(set(keys)) == len(truth) > 0
    assert {int(k) for k in keys} == {r["key"] for r in truth}
    assert os.path.exists(tmp_path / "running-instances")
