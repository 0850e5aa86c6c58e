"""Issue 18 point 5: ``output.partition_by`` writes Hive-style date partitions inside a snapshot,
readable by pyarrow.dataset and DuckDB with hive partitioning; null dates go to ``__null__``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.dataset as ds
import pytest

import exporter
from exporter.errors import OutputError
from exporter.simulator import Simulator


def run(sim: Simulator, out: Path, fmt: str, granularity: str) -> Any:
    spec = exporter.load_spec(
        {
            "version": 1,
            "source": {"base_url": sim.base_url, "api": "v1"},
            "exports": [{"endpoint": "process-instances", "name": "pi", "page_size": 40}],
            "output": {
                "format": fmt,
                "path": str(out),
                "rows_per_file": 100,
                "partition_by": {"field": "endDate", "granularity": granularity},
            },
        }
    )
    result = exporter.run_job(spec, exporter.RunOptions(quiet=True))
    assert result.ok, [e.error for e in result.failed]
    latest = exporter.latest_snapshot(str(out), "pi")
    assert latest is not None
    return latest


def expected_folders(sim: Simulator, width: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in sim.truth("process-instances"):
        end = row.get("endDate")
        key = (
            dt.datetime.fromtimestamp(end / 1000, dt.UTC).strftime("%Y-%m-%d")[:width]
            if end is not None
            else "__null__"
        )
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.parametrize(("granularity", "width"), [("day", 10), ("month", 7)])
def test_parquet_partitions_read_back_with_hive_partitioning(
    simulator: Simulator, tmp_path: Path, granularity: str, width: int
) -> None:
    latest = run(simulator, tmp_path / "out", "parquet", granularity)
    expected = expected_folders(simulator, width)
    assert "__null__" in expected and len(expected) > 2  # running instances have no endDate
    folders = {p.split("/")[-2] for p in latest.paths}
    assert folders == {f"endDate_{granularity}={k}" for k in expected}
    snapshot = Path(latest.location)
    dataset = ds.dataset(snapshot, format="parquet", partitioning="hive")
    table = dataset.to_table()
    column = f"endDate_{granularity}"
    seen: dict[str, int] = {}
    for value in table.column(column).to_pylist():
        seen[str(value)] = seen.get(str(value), 0) + 1
    assert seen == {k: v for k, v in expected.items()}
    glob = f"{snapshot}/*/part-*.parquet"
    rows = duckdb.sql(
        f"SELECT {column}, count(*) FROM read_parquet('{glob}', hive_partitioning = true) "
        "GROUP BY ALL"
    ).fetchall()
    assert {str(k): n for k, n in rows} == expected


def test_jsonl_partitions(simulator: Simulator, tmp_path: Path) -> None:
    latest = run(simulator, tmp_path / "out", "jsonl", "month")
    expected = expected_folders(simulator, 7)
    total = 0
    for path in latest.paths:
        folder = path.split("/")[-2]
        lines = Path(path).read_text().splitlines()
        total += len(lines)
        assert folder.startswith("endDate_month=")
    assert total == sum(expected.values()) == latest.records


def test_a_partition_field_the_records_do_not_have_is_an_error(
    simulator: Simulator, tmp_path: Path
) -> None:
    spec = exporter.load_spec(
        {
            "version": 1,
            "source": {"base_url": simulator.base_url, "api": "v1"},
            "exports": [{"endpoint": "process-instances", "name": "pi"}],
            "output": {"path": str(tmp_path), "partition_by": {"field": "startDat"}},
        }
    )
    result = exporter.run_job(spec, exporter.RunOptions(quiet=True))
    assert not result.ok
    assert "output.partition_by.field 'startDat'" in str(result.exports[0].error)
    assert OutputError.exit_code == 1


def test_partitions_on_s3(simulator: Simulator, s3_server: Any) -> None:
    bucket = s3_server.new_bucket()
    spec = exporter.load_spec(
        {
            "version": 1,
            "source": {"base_url": simulator.base_url, "api": "v1"},
            "exports": [{"endpoint": "process-instances", "name": "pi"}],
            "output": {
                "path": f"s3://{bucket}/o",
                "storage_options": s3_server.storage_options,
                "partition_by": {"field": "endDate", "granularity": "month"},
            },
        }
    )
    assert exporter.run_job(spec, exporter.RunOptions(quiet=True)).ok
    latest = exporter.latest_snapshot(f"s3://{bucket}/o", "pi", s3_server.storage_options)
    assert latest is not None
    snapshot = f"{bucket}/o/pi/{latest.snapshot}"
    table = ds.dataset(snapshot, filesystem=latest.filesystem, partitioning="hive").to_table()
    seen: dict[str, int] = {}
    for value in table.column("endDate_month").to_pylist():
        seen[str(value)] = seen.get(str(value), 0) + 1
    assert seen == expected_folders(simulator, 7)
    assert not [k for k in s3_server.keys(bucket) if "/_part-" in k]
