"""Issue 20 point 5: merge a 100,000-row window into a 1,000,000-row current-state table.

    .venv/bin/python bench/table_merge.py [rows] [window] [repeats]

Builds synthetic process-instance snapshots in the canonical schema (the columns and types an
export writes, through ``exporter.sinks.arrow_schema``) under a temporary output folder, with
manifests, then:

1. ``setup``: one snapshot of ``rows`` instances, taken by an empty table (the table's
   creation: one write);
2. ``merge``: a later snapshot of ``window`` instances, half of them keys already in the table
   (now COMPLETED), half new, taken by ``CurrentStateTable.update``: the run's table stage.

Each phase's table update runs in a fresh child process (its snapshot is written by another),
so its peak RSS (``ru_maxrss`` of the child) is the update's own: Python, pyarrow and deltalake
imports included. The merge is repeated ``repeats``
times on copies of the same table (each copy made before timing); wall times are printed per
repeat with the median. A row check follows: the table has rows + window/2 rows, one per key.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXPORT = "process-instances"
BASE_KEY = 2251799813685248
START_MS = 1_790_000_000_000


def snapshot(out: Path, name: str, first: int, count: int, state: str, finished: str) -> None:
    """One snapshot directory of ``count`` instances with keys from ``first``, and its manifest."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from exporter.api.canonical import canonical_endpoint
    from exporter.sinks.arrow_schema import schema_for
    from exporter.spec import ExportSpec

    schema = schema_for(canonical_endpoint(EXPORT), ExportSpec(EXPORT, EXPORT))
    directory = out / EXPORT / name
    directory.mkdir(parents=True)
    keys = pa.array(range(BASE_KEY + first, BASE_KEY + first + count), pa.int64())
    starts = pa.array(
        [START_MS + 1000 * i for i in range(first, first + count)], pa.timestamp("ms", tz="UTC")
    )
    columns = {
        "processInstanceKey": keys,
        "processDefinitionId": pa.array(["order-process"] * count),
        "processDefinitionName": pa.array(["Order process"] * count),
        "processDefinitionVersion": pa.array([3] * count, pa.int32()),
        "processDefinitionKey": pa.array([BASE_KEY + 1] * count, pa.int64()),
        "startDate": starts,
        "endDate": starts if state != "ACTIVE" else pa.nulls(count, starts.type),
        "state": pa.array([state] * count),
        "hasIncident": pa.array([False] * count),
        "tenantId": pa.array(["<default>"] * count),
    }
    table = pa.table([columns.get(f.name, pa.nulls(count, f.type)) for f in schema], schema=schema)
    pq.write_table(table, directory / "part-00000.parquet", compression="zstd")
    manifest = {
        "format": "parquet",
        "endpoint": EXPORT,
        "api_version": "v2",
        "schema_mode": "canonical",
        "snapshot": name,
        "finished_at": finished,
        "files": [{"name": "part-00000.parquet"}],
        "run_id": name,
    }
    (directory / "_manifest.json").write_text(json.dumps(manifest))


def update(out: Path) -> tuple[float, dict]:
    from exporter.sinks.manifests import complete_manifests
    from exporter.sinks.table import CurrentStateTable, snapshot_refs
    from exporter.spec import OutputSpec, TableSpec

    output = OutputSpec(path=str(out), table=TableSpec())
    table = CurrentStateTable(output, EXPORT)
    refs = snapshot_refs(table.location, EXPORT, complete_manifests(output, EXPORT))
    started = time.perf_counter()
    commit = table.update(refs, run_id="bench")
    return time.perf_counter() - started, commit.to_dict()


def child(phase: str, out: Path, rows: int, window: int) -> None:
    if phase == "write-setup":
        snapshot(out, "snapshot=20261201T000000Z", 0, rows, "ACTIVE", "2026-12-01T00:00:05.000Z")
        return
    if phase == "write-merge":
        first = rows - window // 2  # half updates of existing keys, half new keys
        snapshot(
            out, "snapshot=20261201T010000Z", first, window, "COMPLETED", "2026-12-01T01:00:05.000Z"
        )
        return
    seconds, commit = update(out)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"phase": phase, "seconds": seconds, "peak_rss_mb": peak_mb, **commit}))


def run_child(phase: str, out: Path, rows: int, window: int) -> dict:
    """The phase in a fresh process: first its snapshot written (in a process of its own, so
    that building the synthetic rows does not count), then the table update measured."""
    subprocess.run(
        [sys.executable, __file__, "--child", f"write-{phase}", str(out), str(rows), str(window)],
        check=True,
    )
    done = subprocess.run(
        [sys.executable, __file__, "--child", phase, str(out), str(rows), str(window)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    window = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    print(f"# {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="table-bench-") as tmp:
        base = Path(tmp) / "base"
        setup = run_child("setup", base, rows, window)
        peak = setup["peak_rss_mb"]
        print(f"setup: {rows:,} rows, {setup['seconds']:.2f} s, peak RSS {peak:.0f} MB")
        times, peaks = [], []
        for attempt in range(repeats):
            copy = Path(tmp) / f"run{attempt}"
            shutil.copytree(base, copy)
            merged = run_child("merge", copy, rows, window)
            times.append(merged["seconds"])
            peaks.append(merged["peak_rss_mb"])
            print(
                f"merge {attempt + 1}: {window:,} rows into {rows:,}: {merged['seconds']:.2f} s, "
                f"peak RSS {merged['peak_rss_mb']:.0f} MB, version {merged['version']}"
            )
            from deltalake import DeltaTable

            keys = (
                DeltaTable(str(copy / "_tables" / EXPORT))
                .to_pyarrow_table(columns=["processInstanceKey"])
                .column(0)
            )
            assert len(keys) == rows + window // 2 == len(set(keys.to_pylist())), len(keys)
            shutil.rmtree(copy)
        print(
            f"merge median {statistics.median(times):.2f} s (min {min(times):.2f}), "
            f"peak RSS max {max(peaks):.0f} MB"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
