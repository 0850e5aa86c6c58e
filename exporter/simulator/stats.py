"""Thread-safe counters of what the simulator served and injected (GET /__sim/stats)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

SCALARS = (
    "requests",
    "items_served",
    "tokens_issued",
    "token_failures",
    "logins",
    "login_failures",
    "logouts",
    "unauthorized",
    "csrf_rejections",
    # Highest number of API requests being answered at the same moment (client concurrency).
    "max_in_flight",
)


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._scalars: Counter[str] = Counter({k: 0 for k in SCALARS})
            self._searches: Counter[str] = Counter()
            self._gets: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._in_flight = 0

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._scalars[name] += n

    def enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            if self._in_flight > self._scalars["max_in_flight"]:
                self._scalars["max_in_flight"] = self._in_flight

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def search(self, resource: str, items: int) -> None:
        with self._lock:
            self._searches[resource] += 1
            self._scalars["items_served"] += items

    def get(self, resource: str) -> None:
        with self._lock:
            self._gets[resource] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = dict(self._scalars)
            out["searches"] = dict(self._searches)
            out["gets"] = dict(self._gets)
            out["faults"] = dict(self._faults)
            return out
