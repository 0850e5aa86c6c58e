"""A run SIGKILLed in the middle of its Delta merge (issue 20 points 1 and 4): the table stays at
its previous version and reads as before (the data files the merge had written are referenced
by no commit), the run's snapshots are committed, and the next run takes them too and converges
to the table an uninterrupted history gives; rebuild-table gives that same table from the
snapshots alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from deltalake import DeltaTable
from tables_helpers import (
    TABLE,
    cli,
    comparable,
    covered,
    expected_rows,
    table_comparable,
    table_spec,
)

from exporter import load_spec, run_job

HERE = Path(__file__).resolve().parent
HANG_GUARD_SECONDS = 120  # only stops a broken run from hanging the suite
KILL_ATTEMPTS = 4


def content(table: DeltaTable) -> list[dict[str, Any]]:
    return table.to_pyarrow_table().sort_by("processInstanceKey").to_pylist()


def referenced(table: DeltaTable) -> set[str]:
    return {os.path.basename(uri) for uri in table.file_uris()}


def test_sigkill_during_the_merge_keeps_the_table_and_the_rerun_converges(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(scale=60, seed=5, live=True, api="both")
    out = tmp_path / "out"
    document = table_spec(sim.base_url, str(out), "v2")
    spec_path = tmp_path / "job.yaml"
    spec_path.write_text(yaml.safe_dump(document))
    spec = load_spec(document)
    table_dir = out / "_tables" / TABLE

    assert run_job(spec).ok
    clocks = [sim.now()]
    before = DeltaTable(str(table_dir))
    version, rows_before, files_before = before.version(), content(before), referenced(before)

    # The kill waits for the merge's first data file; on a loaded machine the merge may commit
    # before the signal lands (then that run is an ordinary crash after its commit): try again.
    for _attempt in range(KILL_ATTEMPTS):
        sim.clock.advance("PT50M")
        clocks.append(sim.now())
        killed = subprocess.run(
            [
                sys.executable,
                str(HERE / "table_kill_wrapper.py"),
                str(table_dir),
                "run",
                str(spec_path),
            ],
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_SECONDS,
            check=False,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        after = DeltaTable(str(table_dir))
        if after.version() == version:
            break
        version, rows_before, files_before = after.version(), content(after), referenced(after)
    else:
        raise AssertionError(f"no kill landed inside the merge in {KILL_ATTEMPTS} attempts")
    assert content(after) == rows_before  # the table reads exactly as before the killed merge
    assert referenced(after) == files_before
    orphans = {n for n in os.listdir(table_dir) if n.startswith("part-")} - files_before
    assert orphans, "the kill came before the merge wrote anything"
    # the killed run's snapshots are committed: its refresh and its new windows
    assert len(list((out / "pi-open").glob("snapshot=*/_manifest.json"))) == len(clocks)

    rerun = run_job(spec)  # same clock: no new window, a new refresh snapshot
    assert rerun.ok, [e.error for e in rerun.exports]
    clocks.append(sim.now())
    table = DeltaTable(str(table_dir))
    assert table.version() == version + 1  # one commit took the killed run's snapshots too
    taken = {r["_snapshot"] for r in content(table)}
    assert any(s.startswith("pi-finished/") for s in taken)
    expected = expected_rows(sim, clocks, covered(out))
    records = content(table)
    assert {r["processInstanceKey"] for r in records} == set(expected)
    assert all(
        table_comparable(r) == comparable(expected[r["processInstanceKey"]]) for r in records
    )

    rebuilt = cli("rebuild-table", str(spec_path), "--only", TABLE)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"table {TABLE}: version {version + 2}" in rebuilt.stdout
    assert content(DeltaTable(str(table_dir))) == records
