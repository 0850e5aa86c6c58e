"""The table modes and the merge rule on hand-made snapshots (issue 20 points 1-3): a row is
replaced only by a later export, even when the older snapshot is taken last; append keeps every
row; overwrite keeps what was taken last; rebuild-table and the run lock through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from deltalake import DeltaTable
from tables_helpers import cli

from exporter.api.canonical import canonical_endpoint
from exporter.errors import RunLocked
from exporter.pipeline.lock import hold_locks
from exporter.sinks.arrow_schema import schema_for
from exporter.sinks.manifests import complete_manifests
from exporter.sinks.table import CurrentStateTable, SnapshotRef, snapshot_refs
from exporter.spec import ExportSpec, OutputSpec, TableSpec

EXPORT = "process-instances"


def write_snapshot(
    out: Path, export: str, stamp: str, finished: str, states: dict[int, str]
) -> None:
    """A complete snapshot of process instances ``key -> state`` (canonical Parquet + manifest)."""
    schema = schema_for(canonical_endpoint(EXPORT), ExportSpec(EXPORT, export))
    directory = out / export / f"snapshot={stamp}"
    directory.mkdir(parents=True)
    data = {"processInstanceKey": list(states), "state": list(states.values())}
    table = pa.table(
        [
            pa.array(data[f.name], f.type) if f.name in data else pa.nulls(len(states), f.type)
            for f in schema
        ],
        schema=schema,
    )
    pq.write_table(table, directory / "part-00000.parquet")
    manifest = {
        "format": "parquet",
        "endpoint": EXPORT,
        "api_version": "v2",
        "schema_mode": "canonical",
        "snapshot": f"snapshot={stamp}",
        "finished_at": finished,
        "files": [{"name": "part-00000.parquet"}],
    }
    (directory / "_manifest.json").write_text(json.dumps(manifest))


def refs(out: Path, *exports: str) -> list[SnapshotRef]:
    output = OutputSpec(path=str(out))
    table = CurrentStateTable(output, "t")
    found = []
    for export in exports:
        found += snapshot_refs(table.location, export, complete_manifests(output, export))
    return found


def states(table: CurrentStateTable) -> list[tuple[int, str, str]]:
    rows = (
        DeltaTable(table.uri)
        .to_pyarrow_table()
        .sort_by([("processInstanceKey", "ascending"), ("_exported_at", "ascending")])
        .to_pylist()
    )
    return [(r["processInstanceKey"], r["state"], r["_snapshot"]) for r in rows]


def test_an_older_export_taken_later_does_not_replace_a_newer_row(tmp_path: Path) -> None:
    output = OutputSpec(path=str(tmp_path), table=TableSpec())
    table = CurrentStateTable(output, "t")
    write_snapshot(tmp_path, "a", "20261201T100000Z", "2026-12-01T10:00:05.000Z", {1: "COMPLETED"})
    assert table.update(refs(tmp_path, "a")).committed
    # a snapshot that finished earlier (a window resumed and committed late, say)
    write_snapshot(
        tmp_path, "b", "20261201T090000Z", "2026-12-01T09:00:05.000Z", {1: "ACTIVE", 2: "ACTIVE"}
    )
    write_snapshot(tmp_path, "b", "20261201T110000Z", "2026-12-01T11:00:05.000Z", {2: "COMPLETED"})
    commit = table.update(refs(tmp_path, "a", "b"))
    assert commit.committed and len(commit.snapshots) == 2  # a's is not taken again
    assert states(table) == [
        (1, "COMPLETED", "a/snapshot=20261201T100000Z"),
        (2, "COMPLETED", "b/snapshot=20261201T110000Z"),
    ]
    assert table.update(refs(tmp_path, "a", "b")).committed is False  # nothing pending
    assert DeltaTable(table.uri).version() == 1


def test_append_keeps_every_row_and_overwrite_what_was_taken_last(tmp_path: Path) -> None:
    write_snapshot(
        tmp_path, "a", "20261201T100000Z", "2026-12-01T10:00:05.000Z", {1: "ACTIVE", 2: "ACTIVE"}
    )
    appended = CurrentStateTable(OutputSpec(path=str(tmp_path)), "log", "append")
    replaced = CurrentStateTable(OutputSpec(path=str(tmp_path)), "last", "overwrite")
    for table in (appended, replaced):
        table.update(refs(tmp_path, "a"))
    write_snapshot(tmp_path, "a", "20261201T110000Z", "2026-12-01T11:00:05.000Z", {1: "COMPLETED"})
    for table in (appended, replaced):
        table.update(refs(tmp_path, "a"))
    assert [(k, s) for k, s, _ in states(appended)] == [
        (1, "ACTIVE"),
        (1, "COMPLETED"),
        (2, "ACTIVE"),
    ]
    assert [(k, s) for k, s, _ in states(replaced)] == [(1, "COMPLETED")]
    # rebuilt from the same snapshots, each gives what its runs gave
    for table in (appended, replaced):
        before = states(table)
        table.rebuild(refs(tmp_path, "a"))
        assert states(table) == before


def spec_file(tmp_path: Path, **output: Any) -> Path:
    document = {
        "version": 1,
        "source": {"base_url": "http://127.0.0.1:9", "api": "v2"},
        "exports": [
            {"endpoint": EXPORT, "name": "a", "table": {"name": "pi"}},
            {
                "endpoint": EXPORT,
                "name": "b",
                "filter": {"state": "ACTIVE"},
                "table": {"name": "pi"},
            },
        ],
        "output": {"path": str(tmp_path), **output},
    }
    if "table" not in output:
        for export in document["exports"]:
            del export["table"]
    path = tmp_path / ("job.yaml" if "table" in output else "job-without-table.yaml")
    path.write_text(yaml.safe_dump(document))
    return path


def test_rebuild_table_cli(tmp_path: Path) -> None:
    write_snapshot(tmp_path, "a", "20261201T100000Z", "2026-12-01T10:00:05.000Z", {1: "COMPLETED"})
    write_snapshot(
        tmp_path, "b", "20261201T090000Z", "2026-12-01T09:00:05.000Z", {1: "ACTIVE", 2: "ACTIVE"}
    )
    spec = spec_file(tmp_path, table={"format": "delta"})
    done = cli("rebuild-table", str(spec), "--only", "b", "--format", "json")  # an export of pi
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {
            "table": "pi",
            "location": str(tmp_path / "_tables" / "pi"),
            "mode": "rebuild",
            "version": 0,
            "committed": True,
            "snapshots": 2,
            "rows_in": 3,
        }
    ]
    table = (
        DeltaTable(str(tmp_path / "_tables" / "pi"))
        .to_pyarrow_table()
        .sort_by("processInstanceKey")
    )
    assert table.column("state").to_pylist() == ["COMPLETED", "ACTIVE"]

    unknown = cli("rebuild-table", str(spec), "--only", "nope")
    assert unknown.returncode == 2 and "unknown table(s) nope; the spec has: pi" in unknown.stderr
    without = cli("rebuild-table", str(spec_file(tmp_path)))
    assert without.returncode == 2 and "has no output.table" in without.stderr
    with hold_locks(str(tmp_path), ["_tables/pi"], "holder-run"):
        locked = cli("rebuild-table", str(spec))
    assert locked.returncode == 75 and "holder-run" in locked.stderr


def test_a_run_stops_when_another_run_holds_its_table(tmp_path: Path) -> None:
    from exporter import load_spec, run_job
    from exporter.pipeline.results import RunOptions

    spec = load_spec(spec_file(tmp_path, table={"format": "delta"}))
    with (
        hold_locks(str(tmp_path), ["_tables/pi"], "holder-run"),
        pytest.raises(RunLocked, match=r"_tables/pi.*holder-run"),
    ):
        run_job(spec, RunOptions(only=("b",)))  # only b runs, but a also feeds the table


def test_a_damaged_table_fails_the_run_clearly_and_rebuild_table_recovers(
    make_simulator: Any, tmp_path: Path
) -> None:
    import shutil

    from exporter import load_spec, run_job

    sim = make_simulator(scale=30, seed=8, api="both")
    document = {
        "version": 1,
        "source": {"base_url": sim.base_url, "api": "v2"},
        "exports": [{"endpoint": EXPORT, "name": "pi"}],
        "output": {"path": str(tmp_path), "table": {"format": "delta"}},
    }
    spec = load_spec(document)
    assert run_job(spec).ok
    log = tmp_path / "_tables" / "pi" / "_delta_log" / "00000000000000000000.json"
    log.write_text("not json\n")
    result = run_job(spec)
    (failed,) = result.exports
    assert not result.ok and failed.records == 30
    assert failed.error is not None and "table 'pi' not updated" in failed.error
    assert "cannot be read: " in failed.error and "\n" not in failed.error
    assert len(list((tmp_path / "pi").glob("snapshot=*/_manifest.json"))) == 2
    shutil.rmtree(tmp_path / "_tables" / "pi")
    spec_path = tmp_path / "job.yaml"
    spec_path.write_text(yaml.safe_dump(document))
    rebuilt = cli("rebuild-table", str(spec_path))
    assert rebuilt.returncode == 0, rebuilt.stderr
    keys = DeltaTable(str(tmp_path / "_tables" / "pi")).to_pyarrow_table().column(0).to_pylist()
    assert sorted(keys) == sorted(r["key"] for r in sim.truth(EXPORT))
