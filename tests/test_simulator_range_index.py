"""The simulator's range index (``Table.positions_between``) answers date-window searches in
O(log n + k); these tests hold it to a pass over every row while live puts replace, blank and
append rows. Window searches through the HTTP API are held to ``truth_window`` by
test_incremental_live."""

from __future__ import annotations

import random

from exporter.simulator.data import Row, Table


def _scan(table: Table, name: str, low: int, high: int) -> list[int]:
    return [
        position
        for position, row in enumerate(table.rows)
        if row.get(name) is not None and low <= row[name] <= high
    ]


def _row(rng: random.Random, key: int) -> Row:
    row: Row = {"key": key, "state": rng.choice(("ACTIVE", "COMPLETED"))}
    if rng.random() < 0.7:  # absent = null: never in a window
        row["endDate"] = rng.randrange(0, 500)
    if rng.random() < 0.5:
        row["startDate"] = rng.randrange(0, 500)
    return row


def test_positions_between_follows_every_put() -> None:
    rng = random.Random(11)
    table = Table("t", "key", [_row(rng, key) for key in range(0, 4000, 2)])
    assert table.positions_between("endDate", 100, 200) == _scan(table, "endDate", 100, 200)
    for step in range(3000):
        if rng.random() < 0.6:  # a change of an existing record (its dates may move or vanish)
            key = table.rows[rng.randrange(len(table.rows))]["key"]
        else:  # a new record, sometimes below the last key (key_ordered becomes False)
            key = rng.randrange(-1000, 10_000) * 2 + 1
        table.put(_row(rng, key))
        if step == 1500:  # an index built after live puts starts from the rows as they are
            assert table.positions_between("startDate", 0, 499) == _scan(table, "startDate", 0, 499)
        low = rng.randrange(-5, 505)
        high = low + rng.choice((0, 1, 7, 60, 600))
        for name in ("endDate", "startDate") if step > 1500 else ("endDate",):
            assert table.positions_between(name, low, high) == _scan(table, name, low, high)
    assert not table.key_ordered


def test_positions_between_bounds_are_inclusive_and_ties_all_returned() -> None:
    rows: list[Row] = [{"key": k, "endDate": 10 * (k // 3)} for k in range(30)]
    table = Table("t", "key", rows)
    assert table.positions_between("endDate", 10, 20) == [3, 4, 5, 6, 7, 8]
    assert table.positions_between("endDate", 11, 19) == []
    assert table.positions_between("endDate", 90, 90) == [27, 28, 29]
    table.put({"key": 4})  # its endDate became null: out of every window
    assert table.positions_between("endDate", 10, 10) == [3, 5]
