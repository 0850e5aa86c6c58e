"""README "Dependent exports": its spec (finished orders of the last hour with their variables)
runs against the live simulator, and its DuckDB join returns exactly the variables of the
instances that finished in the newest window."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import yaml

from exporter import load_spec, run_job

README = (Path(__file__).parent.parent / "README.md").read_text()
SECTION = README.split("## Dependent exports", 1)[1].split("\n## ", 1)[0]


def block(language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", SECTION, re.S)
    assert found, language
    return found.group(1)


def test_readme_pair_and_duckdb_join(make_simulator: Any, tmp_path: Path, monkeypatch: Any) -> None:
    sim = make_simulator(scale=30, seed=8, live=True, api="both")
    document = yaml.safe_load(block("yaml"))
    document["source"] = {"base_url": sim.base_url, "api": "v2"}
    document["output"]["path"] = str(tmp_path)
    spec = load_spec(document)
    sim.clock.advance("PT1H")
    assert run_job(spec).ok
    sim.clock.advance("PT1H")  # the next hourly run
    assert run_job(spec).ok

    monkeypatch.chdir(tmp_path)
    connection = duckdb.connect()
    statements = [s for s in block("sql").split(";") if s.strip()]
    for statement in statements[:-1]:
        connection.execute(statement)
    rows = connection.execute(statements[-1]).fetchall()
    columns = [d[0] for d in connection.description]
    assert columns == ["processInstanceKey", "endDate", "name", "value"]

    manifests = [yaml.safe_load(m.read_text()) for m in tmp_path.glob("finished-orders/*/_man*")]
    newest = max(manifests, key=lambda m: m["incremental"]["to_ms"])["incremental"]
    finished = {
        r["key"]
        for r in sim.truth_window(
            "process-instances", "endDate", newest["from_ms"], newest["to_ms"]
        )
        if r["bpmnProcessId"] == "order-process"
    }
    expected = sorted(
        (v["processInstanceKey"], v["name"])
        for v in sim.truth("variables")
        if v["processInstanceKey"] in finished
    )
    assert len(finished) > 2 and expected
    assert sorted((int(key), name) for key, _, name, _ in rows) == expected
