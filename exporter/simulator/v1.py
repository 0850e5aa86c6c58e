"""The v1 view: renders API-neutral records into Operate v1 JSON, pre-encoded once.

v1 specifics live here and only here: dates as ``2026-11-17T11:50:25.729+0000``, variable values
cut to ``variable_threshold`` characters with ``truncated: true`` in search, decision instances
without ``evaluatedInputs``/``evaluatedOutputs`` in search. Encoded bytes are cached per record
so a page body is a ``b",".join`` of ready-made items.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

from exporter.api.types import Kind
from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.simulator.data import Dataset, Row

_EPOCH = datetime(1970, 1, 1)
HIDDEN_IN_SEARCH = {"decision-instances": ("evaluatedInputs", "evaluatedOutputs")}


@lru_cache(maxsize=4096)
def _day(days: int) -> str:
    return (_EPOCH + timedelta(days=days)).strftime("%Y-%m-%dT")


def format_date(ms: int) -> str:
    """Epoch millis -> Operate's default API date format (offset without colon)."""
    days, rest = divmod(ms, 86_400_000)
    seconds, millis = divmod(rest, 1000)
    minutes, sec = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{_day(days)}{hour:02d}:{minute:02d}:{sec:02d}.{millis:03d}+0000"


def parse_date(text: str) -> int:
    """Operate date string (``+0000`` or ``+00:00`` or ``Z``) -> epoch millis. ValueError if bad."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
        value = value[:-2] + ":" + value[-2:]
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


class V1View:
    def __init__(self, dataset: Dataset, variable_threshold: int) -> None:
        self.dataset = dataset
        self.threshold = variable_threshold
        self._dates = {
            name: endpoint.fields_of_kind(Kind.DATE) for name, endpoint in V1_ENDPOINTS.items()
        }
        self._encoded: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def _render(self, name: str, row: Row, hydrated: bool) -> dict[str, Any]:
        out = {k: v for k, v in row.items() if not k.startswith("_")}
        for date_field in self._dates[name]:
            if date_field in out:
                out[date_field] = format_date(out[date_field])
        if name == "variables" and not hydrated:
            value = out["value"]
            if len(value) > self.threshold:
                out["value"] = value[: self.threshold]
                out["truncated"] = True
        if not hydrated:
            for hidden in HIDDEN_IN_SEARCH.get(name, ()):
                out.pop(hidden, None)
        return out

    def search_record(self, name: str, row: Row) -> dict[str, Any]:
        return self._render(name, row, hydrated=False)

    def full_record(self, name: str, row: Row) -> dict[str, Any]:
        return self._render(name, row, hydrated=True)

    def records(self, name: str) -> list[dict[str, Any]]:
        return [self.full_record(name, r) for r in self.dataset.raw_rows(name)]

    def search_records(self, name: str) -> list[dict[str, Any]]:
        return [self.search_record(name, r) for r in self.dataset.raw_rows(name)]

    def row_changed(self, name: str, position: int) -> None:
        """Live mode replaced or appended the row at ``position``: drop its cached bytes."""
        cache = self._encoded.get(name)
        if cache is None:
            return
        with self._lock:
            if position < len(cache):
                cache[position] = None
            else:
                cache.extend([None] * (position + 1 - len(cache)))

    def encoded(self, name: str, positions: list[int]) -> list[bytes]:
        """Search-view JSON bytes of the given rows, encoded once on first use and cached.

        Lazy rather than up front: at scale 100000 encoding everything first would delay the
        first page by seconds, while paging through once encodes each record exactly once.
        """
        cache = self._encoded.get(name)
        if cache is None:
            with self._lock:
                cache = self._encoded.setdefault(name, [None] * len(self.dataset.raw_rows(name)))
        rows = self.dataset.raw_rows(name)
        out = []
        for i in positions:
            data = cache[i]
            if data is None:
                data = cache[i] = orjson.dumps(self._render(name, rows[i], False))
            out.append(data)
        return out
