"""Durations and instants of the spec's incremental keys (``lag``, ``window``, ``start``,
``retention``), parsed once the JSON Schema has checked their shape.

A duration is ISO 8601 without years and months (``PT15M``, ``P1D``, ``P1DT12H``) or a number
with a unit (``90s``, ``15m``, ``1h``, ``30d``): calendar units have no fixed length. An instant
is RFC 3339 with an offset (``2026-11-01T00:00:00Z``) or relative to the run's clock (``-30d``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

DURATION_PATTERN = r"^(P(?!$)([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+S)?)?|[0-9]+[smhd])$"
START_PATTERN = (
    r"^(-[0-9]+[smhd]|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
    r"(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2}))$"
)

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_SHORT = re.compile(r"^(\d+)([smhd])$")
_RELATIVE = re.compile(r"^-(\d+)([smhd])$")


def parse_duration(text: str) -> int:
    """Seconds of a duration (``PT15M`` or ``15m``); ValueError naming the accepted forms."""
    short = _SHORT.match(text)
    if short:
        return int(short.group(1)) * _UNIT_SECONDS[short.group(2)]
    iso = _ISO.match(text)
    if iso and text not in ("P", "PT") and not text.endswith("T"):
        days, hours, minutes, seconds = (int(g or 0) for g in iso.groups())
        return days * 86400 + hours * 3600 + minutes * 60 + seconds
    raise ValueError(
        f"{text!r} is not a duration: use ISO 8601 days and times (PT15M, P1D, P1DT12H) "
        "or a number with s, m, h or d (15m)"
    )


def parse_instant(text: str, now_ms: int) -> int:
    """Epoch millis of ``start``: RFC 3339 with an offset, or ``-30d`` before ``now_ms``."""
    relative = _RELATIVE.match(text)
    if relative:
        return now_ms - int(relative.group(1)) * _UNIT_SECONDS[relative.group(2)] * 1000
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (add Z or +00:00)")
    return int(moment.timestamp() * 1000)


def iso_ms(epoch_ms: int) -> str:
    """RFC 3339 UTC with milliseconds, as manifests and messages show instants."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
