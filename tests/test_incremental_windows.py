"""Window math of incremental exports (issue 15 points 1-2): v1's minimal date-math tiling,
v2's chunks, the spec's durations and the incremental checks."""

from __future__ import annotations

import itertools
import random
from datetime import datetime

import pytest

from exporter.api import get_dialect
from exporter.api.v1.windows import (
    UNITS,
    bucket_value,
    floor,
    is_aligned,
    next_start,
    plan_windows,
    tile,
    window_filter,
)
from exporter.errors import SpecError
from exporter.spec.timespec import parse_duration, parse_instant


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def minimal_count(start: int, end: int, finest: str) -> int:
    """Brute force: the fewest aligned buckets (any unit down to ``finest``) tiling [start, end)."""
    step_units = UNITS[: UNITS.index(finest) + 1]
    best = {end: 0}
    points = []
    cursor = start
    while cursor < end:
        points.append(cursor)
        cursor = next_start(cursor, finest)
    for point in reversed(points):
        options = [
            1 + best[next_start(point, u)]
            for u in step_units
            if is_aligned(point, u) and next_start(point, u) in best
        ]
        best[point] = min(options)
    return best[start]


def assert_exact_tiling(start: int, end: int, finest: str) -> list[tuple[int, str]]:
    buckets = tile(start, end, finest)
    cursor = start
    for lo, unit in buckets:
        assert lo == cursor and is_aligned(lo, unit)
        cursor = next_start(lo, unit)
    assert cursor == floor(end, finest)
    return buckets


@pytest.mark.parametrize(
    ("start", "end", "finest", "expected"),
    [
        # a whole year, a whole month, a whole day: one bucket each
        ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "m", ["2026-01-01T00:00:00.000+0000||/y"]),
        ("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", "m", ["2026-02-01T00:00:00.000+0000||/M"]),
        ("2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z", "h", ["2024-02-29T00:00:00.000+0000||/d"]),
        # across a year boundary: minutes, hours, the day, the month of December, then January
        (
            "2026-11-30T23:58:00Z",
            "2027-02-01T01:30:00Z",
            "h",
            None,  # checked by count below
        ),
    ],
)
def test_tile_known_ranges(start: str, end: str, finest: str, expected: list[str] | None) -> None:
    buckets = assert_exact_tiling(floor(ms(start), finest), ms(end), finest)
    if expected is not None:
        assert [bucket_value(lo, u) for lo, u in buckets] == expected
    else:
        # 2026-12 (M), 2027-01 (M), 2027-02-01 00h, 01h (to rounded down to the hour: 01:00)
        values = [bucket_value(lo, u) for lo, u in buckets]
        assert values == [
            "2026-11-30T23:00:00.000+0000||/h",
            "2026-12-01T00:00:00.000+0000||/M",
            "2027-01-01T00:00:00.000+0000||/M",
            "2027-02-01T00:00:00.000+0000||/h",
        ]


def test_tile_rounds_to_down_to_the_finest_unit() -> None:
    start = ms("2026-11-27T10:00:00Z")
    assert tile(start, ms("2026-11-27T12:59:59.999Z"), "h") == [
        (start, "h"),
        (ms("2026-11-27T11:00:00Z"), "h"),
    ]
    assert tile(start, ms("2026-11-27T10:59:00Z"), "h") == []
    with pytest.raises(ValueError, match="not at the start"):
        tile(start + 60_000, start + 7_200_000, "h")


@pytest.mark.parametrize("seed", range(6))
def test_tile_is_exact_and_minimal_across_day_month_and_year_boundaries(seed: int) -> None:
    rng = random.Random(seed)
    anchors = ["2026-12-31T20:00:00Z", "2027-02-28T22:00:00Z", "2024-02-28T21:00:00Z"]
    for _ in range(40):
        finest = rng.choice(["m", "h"])
        base = ms(rng.choice(anchors))
        span = (3 * 86400 if finest == "m" else 70 * 86400) * 1000
        start = floor(base + rng.randrange(-span // 2, span // 2), finest)
        end = start + rng.randrange(0, span)
        buckets = assert_exact_tiling(start, end, finest)
        assert len(buckets) == minimal_count(start, floor(end, finest), finest)


def test_tile_boundaries_are_half_open() -> None:
    # a record at `from` is in the first bucket, one at `to - 1 ms` in the last, `to` in none
    start, end = ms("2026-12-31T23:00:00Z"), ms("2027-01-01T02:00:00Z")
    buckets = tile(start, end, "h")
    covering = [
        sum(lo <= t < next_start(lo, u) for lo, u in buckets) for t in (start, end - 1, end)
    ]
    assert covering == [1, 1, 0]


def test_v1_plan_windows_are_buckets_of_the_window_unit() -> None:
    start, end = ms("2026-11-27T10:30:00Z"), ms("2026-11-27T13:45:00Z")
    assert plan_windows(start, end, 3600) == [
        (ms("2026-11-27T10:00:00Z"), ms("2026-11-27T11:00:00Z")),
        (ms("2026-11-27T11:00:00Z"), ms("2026-11-27T12:00:00Z")),
        (ms("2026-11-27T12:00:00Z"), ms("2026-11-27T13:00:00Z")),
    ]
    assert len(plan_windows(ms("2026-11-30T00:00:00Z"), ms("2026-12-02T00:00:00Z"), 2 * 86400)) == 2
    assert window_filter("endDate", *plan_windows(start, end, 3600)[0]) == {
        "endDate": "2026-11-27T10:00:00.000+0000||/h"
    }
    with pytest.raises(ValueError, match="not one v1 date-math bucket"):
        window_filter("endDate", start, end)


def test_v2_plan_windows_chunk_to_the_millisecond() -> None:
    v2 = get_dialect("v2")
    start, end = ms("2026-11-27T10:30:00.001Z"), ms("2026-11-27T13:00:00Z")
    windows = v2.plan_windows(start, end, 3600)
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    assert v2.window_filter("endDate", start, end) == {
        "endDate": {"$gte": "2026-11-27T10:30:00.001Z", "$lt": "2026-11-27T13:00:00.000Z"}
    }


def test_durations_and_instants() -> None:
    assert parse_duration("PT15M") == parse_duration("15m") == 900
    assert parse_duration("P1DT12H") == 129600
    assert parse_duration("30d") == 30 * 86400
    for bad in ("P", "PT", "15", "1w", "P1M"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)
    now = ms("2026-11-27T00:00:00Z")
    assert parse_instant("-30d", now) == now - 30 * 86400_000
    assert parse_instant("2026-11-01T00:00:00+01:00", now) == ms("2026-10-31T23:00:00Z")


def _doc(api: str, endpoint: str, incremental: dict, **export: object) -> dict:
    return {
        "version": 1,
        "source": {"base_url": "http://localhost:1", "api": api},
        "exports": [{"endpoint": endpoint, "incremental": incremental, **export}],
    }


def test_spec_incremental_loads_with_defaults() -> None:
    from exporter.api.validation import load_spec

    spec = load_spec(_doc("v2", "user-tasks", {"field": "completionDate", "window": "PT1H"}))
    inc = spec.exports[0].incremental
    assert inc is not None
    assert (inc.field, inc.lag, inc.start, inc.window) == ("completionDate", 900, "-30d", 3600)
    assert spec.retention == 30 * 86400


@pytest.mark.parametrize(
    ("api", "endpoint", "incremental", "extra", "path", "message"),
    [
        (
            "v1",
            "process-instances",
            {"field": "state"},
            {},
            "exports[0].incremental.field",
            "valid fields are: startDate, endDate",
        ),
        (
            "v2",
            "jobs",
            {"field": "lastUpdateTime"},
            {},
            "exports[0].incremental.field",
            "valid fields are: deadline, endTime",
        ),
        (
            "v1",
            "variables",
            {"field": "name"},
            {},
            "exports[0].incremental.field",
            "valid fields are: none",
        ),
        (
            "v2",
            "process-instances",
            {"field": "endDate"},
            {"filter": {"endDate": {"$exists": True}}},
            "exports[0].filter.endDate",
            "filters the incremental field",
        ),
        (
            "v1",
            "incidents",
            {"field": "creationTime", "window": "30s"},
            {},
            "exports[0].incremental.window",
            "at least one minute",
        ),
        (
            "v1",
            "incidents",
            {"field": "creationTime", "lag": "soon"},
            {},
            "exports[0].incremental.lag",
            "does not match",
        ),
    ],
)
def test_spec_incremental_problems_name_the_path(
    api: str, endpoint: str, incremental: dict, extra: dict, path: str, message: str
) -> None:
    from exporter.api.validation import load_spec

    with pytest.raises(SpecError) as caught:
        load_spec(_doc(api, endpoint, incremental, **extra))
    text = str(caught.value)
    assert path in text and message in text, text
