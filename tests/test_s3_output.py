"""Issue 18: exports into a real S3 server (moto's server mode, ``s3_server`` fixture).

Full exports in both formats, incremental runs, the same-second claim, a commit a crash cut
short, the latest pointer and its Python helper, a missing bucket and denied access.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pyarrow.dataset as ds
import pytest

import exporter
from exporter.simulator import Simulator
from exporter.sinks import open_snapshot
from exporter.sinks.layout import COMMIT_NAME, LATEST_NAME, MANIFEST_NAME


def s3_spec(
    sim: Simulator, s3_server: Any, bucket: str, fmt: str = "parquet", **output: Any
) -> dict[str, Any]:
    return {
        "version": 1,
        "source": {"base_url": sim.base_url, "api": "v1"},
        "exports": [
            {"endpoint": "process-instances", "name": "pi", "page_size": 50},
            {"endpoint": "variables", "name": "vars", "page_size": 100},
        ],
        "output": {
            "format": fmt,
            "path": f"s3://{bucket}/operate",
            "storage_options": s3_server.storage_options,
            "rows_per_file": 120,
            **output,
        },
    }


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_full_export_to_s3_commits_parts_manifest_and_latest_pointer(
    simulator: Simulator, s3_server: Any, fmt: str
) -> None:
    bucket = s3_server.new_bucket()
    spec = exporter.load_spec(s3_spec(simulator, s3_server, bucket, fmt))
    result = exporter.run_job(spec, exporter.RunOptions(quiet=True))
    assert result.ok, [e.error for e in result.failed]
    keys = s3_server.keys(bucket)
    # only committed names: no uncommitted part, temp file, checkpoint or marker is left
    assert not [k for k in keys if "/_part-" in k or k.endswith((".tmp", "_INCOMPLETE"))]
    for export, resource in (("pi", "process-instances"), ("vars", "variables")):
        truth = simulator.truth(resource)
        latest = exporter.latest_snapshot(
            f"s3://{bucket}/operate", export, s3_server.storage_options
        )
        assert latest is not None
        assert latest.records == len(truth) > 120  # several parts
        assert latest.uris[0].startswith(f"s3://{bucket}/operate/{export}/snapshot=")
        pointer = orjson.loads(
            s3_server.client()
            .get_object(Bucket=bucket, Key=f"operate/{export}/{LATEST_NAME}")["Body"]
            .read()
        )
        assert pointer["snapshot"] == latest.snapshot
        assert f"operate/{export}/{latest.snapshot}/{MANIFEST_NAME}" in keys
        fmt_name = "parquet" if fmt == "parquet" else "json"
        table = ds.dataset(latest.paths, filesystem=latest.filesystem, format=fmt_name).to_table()
        assert table.num_rows == len(truth)
        key = "key" if "key" in table.column_names else table.column_names[0]
        assert len(set(table.column(key).to_pylist())) == len(truth)


def test_incremental_runs_into_s3_commit_windows_and_a_second_run_adds_nothing(
    make_simulator: Any, s3_server: Any
) -> None:
    sim = make_simulator(scale=200, seed=3, api="both")  # its clock: 2026-11-27T00:00:00Z
    bucket = s3_server.new_bucket()
    doc = s3_spec(sim, s3_server, bucket)
    doc["source"]["api"] = "v2"
    doc["exports"] = [
        {
            "endpoint": "process-instances",
            "name": "pi",
            "incremental": {"field": "startDate", "start": "2026-11-22T00:00:00Z", "window": "P1D"},
        }
    ]
    spec = exporter.load_spec(doc)
    first = exporter.run_job(spec, exporter.RunOptions(quiet=True))
    assert first.ok, [e.error for e in first.failed]
    manifests = [k for k in s3_server.keys(bucket) if k.endswith(MANIFEST_NAME)]
    assert len(manifests) == 5  # 22nd to 25th, and the 26th up to the cutoff
    second = exporter.run_job(spec, exporter.RunOptions(quiet=True))
    assert second.ok
    assert sum(e.records for e in second.exports) == 0
    assert [k for k in s3_server.keys(bucket) if k.endswith(MANIFEST_NAME)] == manifests
    windows = [
        orjson.loads(s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read())[
            "incremental"
        ]
        for key in manifests
    ]
    assert sorted(w["from"][:10] for w in windows) == [f"2026-11-{d}" for d in range(22, 27)]
    assert sum(e.records for e in first.exports) > 0
    # The second run's plan cached the manifests; a window whose manifest goes is still
    # exported again (the listing, not the cache, says what is committed).
    assert "operate/pi/_manifests.cache.json" in s3_server.keys(bucket)
    s3_server.client().delete_object(Bucket=bucket, Key=manifests[1])
    third = exporter.run_job(spec, exporter.RunOptions(quiet=True))
    lost = f"[{windows[1]['from']}, {windows[1]['to']})"
    assert third.ok and [e.window for e in third.exports] == [lost]


def _ctx(output: Any) -> Any:
    from exporter.api import get_endpoint
    from exporter.sinks import SnapshotContext
    from exporter.spec import ExportSpec

    return SnapshotContext(
        export=ExportSpec("process-instances", "claimed"),
        endpoint=get_endpoint("process-instances"),
        output=output,
        job_digest="sha256:test",
    )


def test_two_snapshots_started_in_the_same_second_get_different_names(s3_server: Any) -> None:
    from exporter.spec import OutputSpec

    bucket = s3_server.new_bucket()
    output = OutputSpec(path=f"s3://{bucket}/out", storage_options=s3_server.storage_options)
    moment = dt.datetime(2026, 11, 27, 22, 15, tzinfo=dt.UTC)
    first = open_snapshot(_ctx(output), now=moment)
    second = open_snapshot(_ctx(output), now=moment)
    assert first.directory != second.directory
    assert second.directory.endswith("snapshot=20261127T221500Z-001")
    first.commit({})
    second.commit({})
    assert len([k for k in s3_server.keys(bucket) if k.endswith(MANIFEST_NAME)]) == 2


def test_a_commit_cut_short_between_renames_is_finished_by_the_next_run(
    s3_server: Any,
) -> None:
    from exporter.api import get_endpoint
    from exporter.spec import OutputSpec
    from tests.test_sinks_snapshot import cursor_of, make_pages

    bucket = s3_server.new_bucket()
    output = OutputSpec(
        path=f"s3://{bucket}/out", storage_options=s3_server.storage_options, rows_per_file=30
    )
    ctx = _ctx(output)
    writer = open_snapshot(ctx)
    pages = make_pages(get_endpoint("process-instances"), ctx.export, 100, 25)
    for page in pages:
        writer.write_page(page, cursor_of(page, ctx.endpoint))
    storage = writer._storage
    original_move = storage.move
    moved: list[str] = []

    def crash_after_two(source: str, target: str) -> None:
        if len(moved) == 2:
            raise OSError("killed")  # what SIGKILL does to the rest of the commit
        original_move(source, target)
        moved.append(target)

    storage.move = crash_after_two  # type: ignore[method-assign]
    with pytest.raises(exporter.OutputError):
        writer.commit({})
    prefix = writer.directory.split("/", 1)[1]
    keys = s3_server.keys(bucket, prefix)
    assert f"{prefix}/{COMMIT_NAME}" in keys and f"{prefix}/{MANIFEST_NAME}" not in keys
    assert any("/_part-" in k for k in keys) and any("/part-" in k for k in keys)

    open_snapshot(ctx).abort("only here to trigger the finishing")
    keys = s3_server.keys(bucket, prefix)
    assert f"{prefix}/{MANIFEST_NAME}" in keys and f"{prefix}/{COMMIT_NAME}" not in keys
    assert not [k for k in keys if "/_part-" in k]
    latest = exporter.latest_snapshot(f"s3://{bucket}/out", "claimed", s3_server.storage_options)
    assert latest is not None and latest.snapshot == prefix.rsplit("/", 1)[1]
    table = ds.dataset(latest.paths, filesystem=latest.filesystem).to_table()
    assert table.num_rows == 100
    assert len(set(table.column("processInstanceKey").to_pylist())) == 100


def test_a_current_state_table_on_s3_with_storage_options(
    make_simulator: Any, s3_server: Any
) -> None:
    """output.table (issue 20) finds the store through output.storage_options too (the run
    lock, the snapshots and the Delta table all on the S3 server; no options in the URI)."""
    from deltalake import DeltaTable
    from tables_helpers import TABLE, table_spec

    sim = make_simulator(scale=60, seed=11, live=True, api="both")
    bucket = s3_server.new_bucket()
    doc = table_spec(sim.base_url, f"s3://{bucket}/out", "v2")
    doc["output"]["storage_options"] = s3_server.storage_options
    result = exporter.run_job(exporter.load_spec(doc), exporter.RunOptions(quiet=True))
    assert result.ok, [e.error for e in result.failed]
    reader = {"AWS_ENDPOINT_URL": s3_server.endpoint_url, "AWS_ALLOW_HTTP": "true"}
    table = DeltaTable(f"s3://{bucket}/out/_tables/{TABLE}", storage_options=reader)
    assert table.version() == 0 and table.to_pyarrow_table().num_rows > 0
