"""The simulator's clock: the time every answer's ``Date`` header reports and live mode runs at.

The default clock stands still at ``DEFAULT_START`` (2026-11-27T00:00:00Z, just after the
generated history), so a simulator that nobody moves answers as it always did. It moves only
when told (``set``, ``advance``, ``POST /__sim/clock``), or flows ``rate`` simulated seconds per
real second when ``rate > 0`` (``--clock-rate 60``: one simulated minute per second).

Times are epoch milliseconds (UTC) throughout; ``parse_instant`` and ``parse_duration`` read the
ISO 8601 forms the admin endpoint accepts.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import formatdate

from exporter.simulator.data import END_MS

DEFAULT_START = END_MS  # 2026-11-27T00:00:00Z
_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


class ClockError(ValueError):
    """A clock move the simulator refuses (unparseable, or backwards in live mode)."""


def parse_instant(text: str) -> int:
    """ISO 8601 / RFC 3339 date-time with offset (``Z``, ``+00:00`` or ``+0000``) -> epoch ms."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", value):
        value = value[:-2] + ":" + value[-2:]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ClockError(
            f"{text!r} is not an ISO 8601 date-time, e.g. 2026-11-27T10:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise ClockError(f"{text!r} has no UTC offset; add Z or +00:00")
    return _to_ms(moment)


def parse_duration(value: object) -> int:
    """Seconds (a number) or an ISO 8601 duration (``PT1H``, ``P1DT30M``, ``PT0.5S``) -> ms."""
    if isinstance(value, bool):
        raise ClockError("advance takes seconds or an ISO 8601 duration such as PT1H, not a bool")
    if isinstance(value, int | float):
        return round(value * 1000)
    if isinstance(value, str):
        match = _DURATION.match(value.strip().upper())
        if match and value.strip().upper() not in ("P", "PT"):
            parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
            seconds = (
                parts.get("d", 0) * 86_400
                + parts.get("h", 0) * 3600
                + parts.get("m", 0) * 60
                + parts.get("s", 0)
            )
            return round(seconds * 1000)
    raise ClockError(
        f"advance {value!r}: expected seconds or an ISO 8601 duration (PT1H, PT90S, P1D)"
    )


def _to_ms(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def format_iso(ms: int) -> str:
    """Epoch ms -> ``2026-11-27T00:00:00.000Z``."""
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def http_date(ms: int) -> str:
    """RFC 7231 IMF-fixdate (``Fri, 27 Nov 2026 00:00:00 GMT``): seconds, rounded down."""
    return formatdate(ms // 1000, usegmt=True)


class Clock:
    """Simulated time in epoch ms. Thread-safe. ``on_move(old, new)`` runs (under the clock's
    lock) before a move is committed and may refuse it by raising ``ClockError``."""

    def __init__(self, start_ms: int = DEFAULT_START, rate: float = 0.0) -> None:
        if rate < 0:
            raise ClockError("clock rate must be >= 0")
        self.rate = rate
        self._anchor_ms = start_ms
        self._anchor_real = time.monotonic()
        self._lock = threading.Lock()
        self._date_cache: tuple[int, str] = (-1, "")
        self.on_move: Callable[[int, int], None] | None = None

    def now(self) -> int:
        if not self.rate:
            return self._anchor_ms
        return self._anchor_ms + int((time.monotonic() - self._anchor_real) * self.rate * 1000)

    def set(self, when: int | str | datetime) -> int:
        """Jump to ``when`` (epoch ms, ISO string or aware datetime); returns the new time."""
        if isinstance(when, str):
            target = parse_instant(when)
        elif isinstance(when, datetime):
            if when.tzinfo is None:
                raise ClockError("a datetime without tzinfo is ambiguous")
            target = _to_ms(when)
        elif isinstance(when, int) and not isinstance(when, bool):
            target = when
        else:
            raise ClockError(f"cannot set the clock to {when!r}")
        with self._lock:
            current = self.now()
            if self.on_move is not None:
                self.on_move(current, target)
            self._anchor_ms = target
            self._anchor_real = time.monotonic()
        return target

    def advance(self, seconds: float | str) -> int:
        """Move forward by seconds or an ISO 8601 duration; returns the new time."""
        step = parse_duration(seconds)
        if step < 0:
            raise ClockError("advance must not be negative")
        return self.set(self.now() + step)

    def http_date(self) -> str:
        """The ``Date`` header value of now, formatted once per simulated second."""
        second = self.now() // 1000
        cached = self._date_cache
        if cached[0] != second:
            cached = self._date_cache = (second, http_date(second * 1000))
        return cached[1]
