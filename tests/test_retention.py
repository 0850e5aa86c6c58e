"""Issue 18 point 4: ``output.keep`` keeps the newest N complete snapshots of each export, after a
successful commit; incomplete snapshots older than a day go too; refused with incremental
exports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import exporter
from exporter.errors import SpecError
from exporter.simulator import Simulator
from exporter.sinks.layout import INCOMPLETE_NAME, MANIFEST_NAME, SnapshotDir
from exporter.sinks.retention import doomed


def document(sim: Simulator, path: str, **output: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "source": {"base_url": sim.base_url, "api": "v1"},
        "exports": [{"endpoint": "process-definitions", "name": "defs"}],
        "output": {"path": path, "keep": 2, **output},
    }


def snapshots(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "defs").glob("snapshot=*"))


def test_keep_prunes_old_complete_and_stale_incomplete_snapshots(
    simulator: Simulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    spec = exporter.load_spec(document(simulator, str(out)))
    stale = out / "defs" / "snapshot=20200101T000000Z"  # a failed run years ago
    stale.mkdir(parents=True)
    (stale / INCOMPLETE_NAME).write_text("{}")
    (stale / "_part-00000.parquet").write_bytes(b"x")
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    fresh = out / "defs" / f"snapshot={recent:%Y%m%dT%H%M%SZ}"  # failed two hours ago: kept
    fresh.mkdir()
    (fresh / INCOMPLETE_NAME).write_text("{}")
    for _ in range(4):
        assert exporter.run_job(spec, exporter.RunOptions(quiet=True)).ok
    names = snapshots(out)
    complete = [n for n in names if (out / "defs" / n / MANIFEST_NAME).exists()]
    assert len(complete) == 2
    assert stale.name not in names and fresh.name in names
    latest = exporter.latest_snapshot(str(out), "defs")
    assert latest is not None and latest.snapshot == complete[-1]


def test_keep_on_s3(simulator: Simulator, s3_server: Any) -> None:
    bucket = s3_server.new_bucket()
    doc = document(simulator, f"s3://{bucket}/o", storage_options=s3_server.storage_options)
    doc["output"]["keep"] = 1
    spec = exporter.load_spec(doc)
    for _ in range(3):
        assert exporter.run_job(spec, exporter.RunOptions(quiet=True)).ok
    manifests = [k for k in s3_server.keys(bucket) if k.endswith(MANIFEST_NAME)]
    assert len(manifests) == 1
    snapshot_keys = {k.split("/")[2] for k in s3_server.keys(bucket) if "snapshot=" in k}
    assert len(snapshot_keys) == 1


def test_the_newest_complete_and_the_current_snapshot_are_never_pruned() -> None:
    now = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)

    def snap(name: str, complete: bool) -> SnapshotDir:
        return SnapshotDir(name, f"/x/{name}", {MANIFEST_NAME: 1} if complete else {})

    listing = [
        snap("snapshot=20261120T000000Z", True),
        snap("snapshot=20261121T000000Z", False),  # stale incomplete
        snap("snapshot=20261122T000000Z", True),
        snap("snapshot=20261126T230000Z", False),  # an hour old: kept
        snap("snapshot=20261126T235900Z", True),
    ]
    gone = [s.name for s in doomed(listing, 1, "snapshot=20261126T235900Z", now)]
    assert gone == [
        "snapshot=20261120T000000Z",
        "snapshot=20261121T000000Z",
        "snapshot=20261122T000000Z",
    ]
    # the one being written is not the newest complete: both stay
    gone = [s.name for s in doomed(listing, 1, "snapshot=20261120T000000Z", now)]
    assert "snapshot=20261120T000000Z" not in gone and "snapshot=20261126T235900Z" not in gone


def test_keep_is_refused_with_incremental_exports(simulator: Simulator) -> None:
    doc = document(simulator, "./out")
    doc["exports"].append(
        {"endpoint": "process-instances", "name": "finished", "incremental": {"field": "endDate"}}
    )
    with pytest.raises(SpecError) as caught:
        exporter.load_spec(doc)
    text = str(caught.value)
    assert "output.keep" in text and "'finished'" in text and "exports[1].incremental" in text
