"""v2 date windows: ``{$gte: from, $lt: to}`` on a date field with range operators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from exporter.api.types import Endpoint, Kind
from exporter.api.v2.registry import V2_ENDPOINTS, V2Field

_RANGE = frozenset({"$gte", "$lt"})


def window_fields(endpoint: Endpoint, server_version: str) -> list[str]:
    """The date fields of ``endpoint`` that take ``$gte``/``$lt`` on that server version."""
    v2 = V2_ENDPOINTS[endpoint.name]
    fields = [f for f in v2.fields if isinstance(f, V2Field)]
    return [
        f.name
        for f in fields
        if f.kind is Kind.DATE
        and f.filterable
        and f.exists_in(server_version)
        and f.operators_for(server_version) >= _RANGE
    ]


def window_problem(window_seconds: int) -> str | None:
    return None if window_seconds >= 1 else "a window is at least one second"


def plan_windows(start: int, end: int, window_seconds: int) -> list[tuple[int, int]]:
    """``[start, end)`` in ``window_seconds`` chunks (the last one may be shorter)."""
    step = window_seconds * 1000
    return [(lo, min(lo + step, end)) for lo in range(start, end, step)]


def _rfc3339(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def window_filter(field: str, start: int, end: int) -> dict[str, Any]:
    return {field: {"$gte": _rfc3339(start), "$lt": _rfc3339(end)}}
