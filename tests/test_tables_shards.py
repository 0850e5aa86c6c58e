"""Tables with sharded and dependent exports (issue 20 with issues 16/17): a run of a sharded
export and of a parent with its dependent export updates each table once; the shards of a
distributed run (``run --shard I/N``) leave the table alone, and ``commit`` updates it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from deltalake import DeltaTable
from tables_helpers import cli

from exporter import load_spec, run_job


def test_sharded_and_dependent_exports_feed_their_tables(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(scale=80, seed=3, live=True, api="both")
    document = {
        "version": 1,
        "source": {"base_url": sim.base_url, "api": "v2"},
        "exports": [
            {
                "endpoint": "process-instances",
                "name": "finished",
                "incremental": {
                    "field": "endDate",
                    "lag": "PT5M",
                    "start": "-1h",
                    "window": "PT1H",
                },
            },
            {
                "endpoint": "variables",
                "name": "vars",
                "parent": {
                    "export": "finished",
                    "field": "processInstanceKey",
                    "filter_field": "processInstanceKey",
                },
            },
            {"endpoint": "flownode-instances", "name": "fni", "shards": 3},
        ],
        "output": {"format": "parquet", "path": str(tmp_path), "table": {"format": "delta"}},
    }
    spec = load_spec(document)
    for step in range(2):
        if step:
            sim.clock.advance("PT50M")
        result = run_job(spec)
        assert result.ok, [e.error for e in result.exports]
    truth = {r["key"] for r in sim.truth("flownode-instances")}
    fni = DeltaTable(str(tmp_path / "_tables" / "fni"))
    assert fni.version() == 1
    assert sorted(fni.to_pyarrow_table().column("elementInstanceKey").to_pylist()) == sorted(truth)
    for name, key in (("finished", "processInstanceKey"), ("vars", "variableKey")):
        keys = (
            DeltaTable(str(tmp_path / "_tables" / name)).to_pyarrow_table().column(key).to_pylist()
        )
        assert keys and len(keys) == len(set(keys)), name


def test_shard_processes_leave_the_table_to_commit(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=60, seed=4, api="both")
    spec = tmp_path / "job.yaml"
    out = tmp_path / "out"
    spec.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "source": {"base_url": sim.base_url, "api": "v2"},
                "exports": [{"endpoint": "process-instances", "name": "pi", "shards": 2}],
                "output": {"format": "parquet", "path": str(out), "table": {"format": "delta"}},
            }
        )
    )
    for index in range(2):
        done = cli("run", str(spec), f"--shard={index}/2", "--run-id=r-1", "-q")
        assert done.returncode == 0, done.stderr
    assert not (out / "_tables" / "pi").exists()  # no snapshot is complete before commit
    committed = cli("commit", str(spec), "--run-id=r-1")
    assert committed.returncode == 0, committed.stderr
    table = DeltaTable(str(out / "_tables" / "pi"))
    keys = table.to_pyarrow_table().column("processInstanceKey").to_pylist()
    assert sorted(keys) == sorted(r["key"] for r in sim.truth("process-instances"))
    assert table.version() == 0
