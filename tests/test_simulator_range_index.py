"""The simulator's range index (``Table.positions_between``) answers date-window searches in
O(log n + k); these tests hold it to a pass over every row while live puts replace, blank and
append rows, and the v2 date ranges it decides without the filter to the filter itself. Window
searches through the HTTP API are held to ``truth_window`` by test_incremental_live."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from exporter.api.v2.filters import matches_v2_filter
from exporter.api.v2.registry import V2_ENDPOINTS
from exporter.simulator.api_v2 import exact_date_range
from exporter.simulator.data import Row, Table
from exporter.simulator.v2 import format_rfc3339_ms


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


def _operand(rng: random.Random, around_ms: int) -> str:
    """An RFC 3339 instant near ``around_ms``: whole or sub-millisecond, Z or an offset."""
    micros = around_ms * 1000 + rng.choice((0, 0, 1, 500, 999, -1, rng.randrange(-3000, 3000)))
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    zone = rng.choice(
        (UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30)))
    )
    text = moment.astimezone(zone).isoformat(timespec=rng.choice(("microseconds", "milliseconds")))
    return text.replace("+00:00", "Z") if rng.random() < 0.5 else text


def test_exact_date_range_agrees_with_the_v2_filter_on_every_millisecond() -> None:
    endpoint = V2_ENDPOINTS["incidents"]
    rng = random.Random(3)
    base = 1_795_737_600_000
    for _ in range(400):
        ops = rng.sample(("$gt", "$gte", "$lt", "$lte", "$eq"), rng.choice((1, 1, 2)))
        cond = {op: _operand(rng, base + rng.randrange(-3, 4)) for op in ops}
        bounds = exact_date_range(cond)
        assert bounds is not None
        low, high = bounds
        for ms in range(base - 6, base + 7):
            record = {"creationTime": format_rfc3339_ms(ms)}
            expected = matches_v2_filter({"creationTime": cond}, record, endpoint)
            assert (low <= ms <= high) == expected, (cond, ms)


def test_exact_date_range_leaves_other_conditions_to_the_filter() -> None:
    assert exact_date_range({"$exists": True}) is None
    assert exact_date_range({"$gte": "2026-11-27T00:00:00Z", "$neq": "x"}) is None
    assert exact_date_range({"$in": ["2026-11-27T00:00:00Z"]}) is None
    assert exact_date_range({}) is None
    assert exact_date_range({"$eq": "2026-11-27T00:00:00.0005Z"}) == (0, -1)
