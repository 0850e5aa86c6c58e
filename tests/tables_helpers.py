"""Shared by the current-state table tests (issue 20): the spec of a process-instances table fed by
an incremental export of finished instances and a refresh of the open ones, and the table the
simulator's history says it must hold."""

from __future__ import annotations

import datetime as dt
import glob
import itertools
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

START = "2026-11-26T22:00:00Z"
TABLE = "process-instances"
# v1 raw state names -> the canonical (v2) values the table holds.
CANONICAL_STATE = {"ACTIVE": "ACTIVE", "COMPLETED": "COMPLETED", "CANCELED": "TERMINATED"}


def table_spec(base_url: str, out: str, api: str, mode: str = "merge") -> dict[str, Any]:
    return {
        "version": 1,
        "source": {"base_url": base_url, "api": api, "retry": {"max_attempts": 1}},
        "concurrency": 3,
        "exports": [
            {
                "endpoint": "process-instances",
                "name": "pi-finished",
                "page_size": 50,
                "incremental": {
                    "field": "endDate",
                    "lag": "PT5M",
                    "start": START,
                    "window": "PT1H",
                },
                "table": {"name": TABLE},
            },
            {
                "endpoint": "process-instances",
                "name": "pi-open",
                "page_size": 50,
                "filter": {"state": "ACTIVE"},
                "table": {"name": TABLE},
            },
        ],
        "output": {"format": "parquet", "path": out, "table": {"format": "delta", "mode": mode}},
    }


def covered(out: Path, export: str = "pi-finished") -> tuple[int, int]:
    """[from, to) in epoch ms that the incremental export's committed windows cover (tiled)."""
    paths = glob.glob(str(out / export / "snapshot=*" / "_manifest.json"))
    return covered_by([json.loads(Path(p).read_text()) for p in paths])


def covered_by(manifests: list[dict[str, Any]]) -> tuple[int, int]:
    spans = sorted((m["incremental"]["from_ms"], m["incremental"]["to_ms"]) for m in manifests)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans)), spans
    return spans[0][0], spans[-1][1]


def expected_rows(sim: Any, clocks: list[int], span: tuple[int, int]) -> dict[int, dict[str, Any]]:
    """key -> the simulator's row the table must hold after runs at ``clocks``: the final state
    of every instance that ended inside the covered windows; else the state of the last run
    that saw it ACTIVE (the refresh), which for one still running is its state now."""
    rows: dict[int, dict[str, Any]] = {}
    for clock in clocks:
        for row in sim.truth("process-instances", as_of=clock):
            if row["state"] == "ACTIVE":
                rows[row["key"]] = row
    for row in sim.truth("process-instances", as_of=clocks[-1]):
        end = row.get("endDate")
        if end is not None and span[0] <= end < span[1]:
            rows[row["key"]] = row
    return rows


def comparable(row: dict[str, Any]) -> tuple[Any, ...]:
    """(state, hasIncident, startDate ms, endDate ms) of a simulator row."""
    return (
        CANONICAL_STATE[row["state"]],
        bool(row.get("incident")),
        row["startDate"],
        row.get("endDate"),
    )


def table_comparable(record: dict[str, Any]) -> tuple[Any, ...]:
    """The same of a table row (Delta timestamps come back as datetimes)."""

    def ms(value: dt.datetime | None) -> int | None:
        return None if value is None else round(value.timestamp() * 1000)

    return (
        record["state"],
        bool(record["hasIncident"]),
        ms(record["startDate"]),
        ms(record["endDate"]),
    )


def check_table(sim: Any, clocks: list[int], table: Any, span: tuple[int, int]) -> int:
    """One row per key, each equal to what runs at ``clocks`` must have left (``expected_rows``)
    in the ``deltalake.DeltaTable``; returns how many rows."""
    records = table.to_pyarrow_table().to_pylist()
    keys = Counter(r["processInstanceKey"] for r in records)
    assert keys and max(keys.values()) == 1, "a key twice in the table"
    expected = expected_rows(sim, clocks, span)
    assert set(keys) == set(expected)
    wrong = [
        (key, table_comparable(r), comparable(expected[key]))
        for r in records
        if table_comparable(r) != comparable(expected[key := r["processInstanceKey"]])
    ]
    assert not wrong, wrong[:5]
    return len(records)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess (the timeout only stops a broken run hanging the suite)."""
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
