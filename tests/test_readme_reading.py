"""README "Reading snapshots": its DuckDB and pyarrow.dataset recipes run unchanged on a real
local output (two complete snapshots and the durable parts of a killed run, which no recipe may
count), and the pyarrow recipe against the S3 server."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

import exporter
from exporter.simulator import Simulator
from exporter.sinks.layout import INCOMPLETE_NAME

README = (Path(__file__).parent.parent / "README.md").read_text()
SECTION = README.split("### Reading snapshots", 1)[1].split("\n## ", 1)[0]


def blocks(language: str) -> list[str]:
    found = re.findall(rf"```{language}\n(.*?)```", SECTION, re.S)
    assert found, language
    return found


def export_twice(sim: Simulator, path: str, **output: Any) -> None:
    spec = exporter.load_spec(
        {
            "version": 1,
            "source": {"base_url": sim.base_url, "api": "v1"},
            "exports": [{"endpoint": "process-instances", "page_size": 100}],
            "output": {"path": path, "rows_per_file": 150, **output},
        }
    )
    for _ in range(2):
        assert exporter.run_job(spec, exporter.RunOptions(quiet=True)).ok


def leave_a_killed_run(out: Path) -> None:
    """What a killed run leaves: durable parts under their uncommitted names, the marker."""
    source = sorted((out / "process-instances").glob("snapshot=*"))[0]
    killed = out / "process-instances" / "snapshot=20991231T000000Z"
    killed.mkdir()
    for part in source.glob("part-*.parquet"):
        shutil.copy(part, killed / f"_{part.name}")
    (killed / INCOMPLETE_NAME).write_text('{"status": "interrupted"}')


def test_duckdb_and_pyarrow_recipes_on_local_output(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    export_twice(simulator, "exports")
    leave_a_killed_run(tmp_path / "exports")
    truth = len(simulator.truth("process-instances"))

    connection = duckdb.connect()
    pointer_sql, latest_sql, all_sql = [s for s in blocks("sql")[0].split(";") if s.strip()]
    connection.execute(pointer_sql)
    assert connection.execute(latest_sql).fetchall() == [(truth,)]
    per_snapshot = connection.execute(all_sql).fetchall()
    assert [n for _, n in per_snapshot] == [truth, truth]  # the killed run is not there

    scope: dict[str, Any] = {}
    exec(blocks("python")[0], scope)
    assert len(scope["df"]) == truth
    assert len(scope["everything"]) == 2 * truth
    assert scope["everything"]["snapshot"].nunique() == 2


def test_pyarrow_recipe_against_s3(simulator: Simulator, s3_server: Any) -> None:
    bucket = s3_server.new_bucket()
    uri = f"s3://{bucket}/operate"
    export_twice(simulator, uri, storage_options=s3_server.storage_options)
    code = blocks("python")[0]
    replaced = code.replace(
        'exporter.latest_snapshot("exports", "process-instances")',
        f'exporter.latest_snapshot("{uri}", "process-instances", {s3_server.storage_options!r})',
    ).replace(
        '"exports/process-instances", format="parquet"',
        f'"{bucket}/operate/process-instances", filesystem=latest.filesystem, format="parquet"',
    )
    assert replaced.count(bucket) == 2
    scope: dict[str, Any] = {}
    exec(replaced, scope)
    truth = len(simulator.truth("process-instances"))
    assert len(scope["df"]) == truth
    assert len(scope["everything"]) == 2 * truth
