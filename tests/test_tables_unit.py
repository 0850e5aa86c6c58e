"""sinks/table.py's pure parts (issue 20): which row of a key wins, and the key column of each
endpoint and schema mode."""

from __future__ import annotations

import pyarrow as pa
import pytest

from exporter.errors import OutputError
from exporter.sinks.arrow_schema import TIMESTAMP_TYPE
from exporter.sinks.table import EXPORTED_AT, SNAPSHOT, latest_per_key, unique_key


def rows(*items: tuple[int | None, int, str, str]) -> pa.Table:
    keys, times, snapshots, states = zip(*items, strict=True)
    return pa.table(
        {
            "k": pa.array(keys, pa.int64()),
            EXPORTED_AT: pa.array(times, TIMESTAMP_TYPE),
            SNAPSHOT: pa.array(snapshots),
            "state": pa.array(states),
        }
    )


def test_the_latest_export_wins_then_the_larger_snapshot() -> None:
    table = rows(
        (2, 10, "a/s1", "ACTIVE"),
        (1, 10, "a/s1", "ACTIVE"),
        (1, 30, "b/s2", "COMPLETED"),
        (2, 20, "a/s0", "ACTIVE-2"),
        (2, 20, "a/s3", "ACTIVE-3"),  # same ms: the larger _snapshot, deterministically
        (3, 5, "a/s1", "ACTIVE"),
    )
    won = latest_per_key(table, "k").to_pylist()
    assert [(r["k"], r["state"]) for r in won] == [(1, "COMPLETED"), (2, "ACTIVE-3"), (3, "ACTIVE")]


def test_unique_keys_come_back_as_they_are() -> None:
    table = rows((5, 1, "a/s", "x"), (4, 1, "a/s", "y"))
    assert latest_per_key(table, "k") is table


def test_a_row_without_its_key_is_refused() -> None:
    with pytest.raises(OutputError, match="1 record\\(s\\) without a k"):
        latest_per_key(rows((None, 1, "a/s", "x"), (1, 1, "a/s", "y")), "k")


@pytest.mark.parametrize(
    ("endpoint", "api", "mode", "key"),
    [
        ("decision-instances", "v1", "native", "id"),
        ("decision-instances", "v1", "canonical", "decisionEvaluationInstanceKey"),
        ("decision-instances", "v2", "native", "decisionEvaluationInstanceKey"),
        ("process-instances", "v1", "native", "key"),
        ("process-instances", "v1", "canonical", "processInstanceKey"),
        ("user-tasks", "v2", "canonical", "userTaskKey"),
    ],
)
def test_the_key_column_follows_the_schema_mode(
    endpoint: str, api: str, mode: str, key: str
) -> None:
    assert unique_key(endpoint, api, mode) == key
