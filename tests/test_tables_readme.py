"""README "Current-state tables" (issue 20 point 6): its spec runs as written against the live
simulator, and its pandas and DuckDB queries, run unchanged but for the path, count the states
the table must hold."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from tables_helpers import CANONICAL_STATE, covered, expected_rows

from exporter import load_spec, run_job

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## Current-state tables", 1)[1].split("\n## ", 1)[0]
README_PATH = "/data/operate"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", SECTION, re.S)


def test_the_readme_spec_and_queries_run(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=60, seed=3, live=True, api="both")
    document = yaml.safe_load(blocks("yaml")[0].replace(README_PATH, str(tmp_path)))
    spec = load_spec(document, env={"OPERATE_URL": sim.base_url})
    clocks = []
    for step in range(3):
        if step:
            sim.clock.advance("PT40M")
        clocks.append(sim.now())
        result = run_job(spec)
        assert result.ok, [e.error for e in result.exports]
    assert (tmp_path / "_tables" / "incidents" / "_delta_log").is_dir()

    expected = expected_rows(sim, clocks, covered(tmp_path, "pi-finished"))
    states = dict(Counter(CANONICAL_STATE[r["state"]] for r in expected.values()))
    assert states.get("ACTIVE") and len(states) > 1, states

    queries = [b for b in blocks("python") if "from deltalake import DeltaTable" in b]
    assert len(queries) == 2  # pandas, DuckDB (the Spark one needs a Spark session)
    pandas_scope: dict[str, Any] = {}
    exec(queries[0].replace(README_PATH, str(tmp_path)), pandas_scope)
    assert pandas_scope["per_state"] == states
    assert set(pandas_scope["running"]["processInstanceKey"]) == {
        k for k, r in expected.items() if r["state"] == "ACTIVE"
    }
    duckdb_scope: dict[str, Any] = {}
    exec(queries[1].replace(README_PATH, str(tmp_path)), duckdb_scope)
    assert dict(duckdb_scope["counts"]) == states
