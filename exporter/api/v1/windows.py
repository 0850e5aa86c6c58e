"""v1 date windows: Operate's v1 filters are exact matches, and a date with rounding
(``2026-11-27T10:00:00.000+0000||/h``) matches everything within that unit, so a v1 window is a
date-math bucket and a range is a tiling of them.

``tile`` is the pure function: the minimal set of aligned ``||/y ||/M ||/d ||/h ||/m`` buckets
whose union is exactly ``[start, end)``, ``end`` first rounded down to the finest unit allowed
(greedy from the left, the largest aligned unit that fits: units nest, so no tiling is shorter).
Date math rounds in UTC, the zone of the ``+0000`` dates sent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from exporter.api.types import Endpoint, Kind

# Coarsest first. Weeks (||/w) are left out: they do not nest in months or years.
UNITS = ("y", "M", "d", "h", "m")
_FIXED_SECONDS = {"d": 86400, "h": 3600, "m": 60}


def _moment(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def floor(epoch_ms: int, unit: str) -> int:
    """The start of the ``unit`` holding ``epoch_ms`` (UTC)."""
    moment = _moment(epoch_ms)
    if unit == "y":
        moment = moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    elif unit == "M":
        moment = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    elif unit == "d":
        moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    elif unit == "h":
        moment = moment.replace(minute=0, second=0, microsecond=0)
    elif unit == "m":
        moment = moment.replace(second=0, microsecond=0)
    else:
        raise ValueError(f"unknown date-math unit {unit!r}")
    return _ms(moment)


def next_start(bucket_start: int, unit: str) -> int:
    """The start of the ``unit`` after the one starting at ``bucket_start``."""
    moment = _moment(floor(bucket_start, unit))
    if unit == "y":
        return _ms(moment.replace(year=moment.year + 1))
    if unit == "M":
        year, month = divmod(moment.month, 12)  # month 12 -> next year's January
        return _ms(moment.replace(year=moment.year + year, month=month + 1))
    return _ms(moment + timedelta(seconds=_FIXED_SECONDS[unit]))


def is_aligned(epoch_ms: int, unit: str) -> bool:
    return floor(epoch_ms, unit) == epoch_ms


def tile(start: int, end: int, finest: str = "m", coarsest: str = "y") -> list[tuple[int, str]]:
    """The minimal buckets ``(start_ms, unit)`` tiling ``[start, floor(end, finest))``.

    ``start`` must be aligned to ``finest`` (ValueError otherwise: the bucket holding it would
    reach before it); units range from ``coarsest`` down to ``finest``.
    """
    allowed = UNITS[UNITS.index(coarsest) : UNITS.index(finest) + 1]
    if not allowed:
        raise ValueError(f"coarsest unit {coarsest!r} is finer than {finest!r}")
    if not is_aligned(start, finest):
        raise ValueError(f"{start} is not at the start of a {finest!r} unit")
    stop = floor(end, finest)
    buckets: list[tuple[int, str]] = []
    cursor = start
    while cursor < stop:
        for unit in allowed:
            following = next_start(cursor, unit)
            if is_aligned(cursor, unit) and following <= stop:
                buckets.append((cursor, unit))
                cursor = following
                break
    return buckets


def bucket_value(start: int, unit: str) -> str:
    """The v1 filter value matching exactly that bucket."""
    moment = _moment(start)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{moment.microsecond // 1000:03d}+0000||/{unit}"


def window_unit(window_seconds: int) -> str:
    """A window's bucket unit: the largest of d, h, m not longer than ``window_seconds``."""
    for unit in ("d", "h", "m"):
        if window_seconds >= _FIXED_SECONDS[unit]:
            return unit
    raise ValueError("a v1 window is at least one minute (v1 date math has no finer bucket)")


# -- the dialect's window interface ------------------------------------------------------------


def window_fields(endpoint: Endpoint, server_version: str) -> list[str]:
    """The date fields a v1 export can window (filterable dates of the registry)."""
    return [f.name for f in endpoint.fields if f.kind is Kind.DATE and f.filterable]


def window_problem(window_seconds: int) -> str | None:
    try:
        window_unit(window_seconds)
    except ValueError as exc:
        return str(exc)
    return None


def plan_windows(start: int, end: int, window_seconds: int) -> list[tuple[int, int]]:
    """``[start, end)`` as v1 windows: buckets of the window's unit, ``start`` rounded down and
    ``end`` rounded down to it (a window is never open at the cutoff)."""
    unit = window_unit(window_seconds)
    buckets = tile(floor(start, unit), end, finest=unit, coarsest=unit)
    return [(lo, next_start(lo, u)) for lo, u in buckets]


def window_filter(field: str, start: int, end: int) -> dict[str, Any]:
    """The filter entry selecting ``[start, end)``, which must be one bucket."""
    for unit in UNITS:
        if is_aligned(start, unit) and next_start(start, unit) == end:
            return {field: bucket_value(start, unit)}
    raise ValueError(f"[{start}, {end}) is not one v1 date-math bucket")
