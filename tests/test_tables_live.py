"""Current-state tables against the live simulator (issue 20 point 4): incremental runs with the
clock advancing and instances changing state between them give a Delta table with exactly one
row per key, equal to the simulator's state as the runs saw it; one Delta commit per run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from tables_helpers import TABLE, check_table, covered, table_spec

from exporter import load_spec, run_job


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_runs_merge_into_one_row_per_key_equal_to_the_simulator(
    make_simulator: Any, tmp_path: Path, api: str
) -> None:
    sim = make_simulator(scale=60, seed=11, live=True, api="both", late_fraction=0.3)
    spec = load_spec(table_spec(sim.base_url, str(tmp_path), api))
    first = run_job(spec)
    assert first.ok, [e.error for e in first.exports]
    clocks = [sim.now()]
    table = DeltaTable(str(tmp_path / "_tables" / TABLE))
    running_then = {
        r["processInstanceKey"]
        for r in table.to_pyarrow_table().to_pylist()
        if r["state"] == "ACTIVE"
    }
    for _ in range(3):
        sim.clock.advance("PT50M")
        clocks.append(sim.now())
        result = run_job(spec)
        assert result.ok, [e.error for e in result.exports]
        assert {r.table["table"] for r in result.exports if r.table} == {TABLE}
    table = DeltaTable(str(tmp_path / "_tables" / TABLE))
    rows = check_table(sim, clocks, table, covered(tmp_path))
    assert rows > 60
    # instances seen running by the first run have finished since, and their rows followed
    now = {r["processInstanceKey"]: r["state"] for r in table.to_pyarrow_table().to_pylist()}
    assert any(now[k] != "ACTIVE" for k in running_then)
    # one Delta commit per run, each naming its run and the snapshots it took
    history = table.history()
    assert len(history) == len(clocks)
    assert {h["operation"] for h in history[:-1]} == {"MERGE"}
    assert all(h.get("operate_export.run_id") for h in history)
    # the rows carry their export time and snapshot; the columns keep the snapshots' types
    snapshot_schema = pq.read_schema(
        next((tmp_path / "pi-open").glob("snapshot=*/part-00000.parquet"))
    )
    table_schema = table.to_pyarrow_table().schema
    for field in snapshot_schema:
        got = table_schema.field(field.name).type
        assert got == field.type or (str(field.type).startswith("timestamp") and got.unit == "us")
    records = table.to_pyarrow_table().to_pylist()
    assert all(r["_snapshot"].split("/")[0] in ("pi-open", "pi-finished") for r in records)
    assert all(r["_exported_at"] is not None for r in records)
    # plain pyarrow reads the same rows from the files of the current version (no deletion
    # vectors: delta-rs rewrites files), and so does the Arrow dataset deltalake hands out
    files = pq.ParquetDataset(table.file_uris()).read()
    assert sorted(files.column("processInstanceKey").to_pylist()) == sorted(now)
    assert table.to_pyarrow_dataset().count_rows() == len(now)
    # a run with the clock standing still: no new window, the refresh's snapshot = one commit
    before = table.version()
    assert run_job(spec).ok
    assert DeltaTable(str(tmp_path / "_tables" / TABLE)).version() == before + 1
