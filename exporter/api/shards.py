"""Shards of one export (issue 17): what a plan is, whatever the API.

A plan cuts an export into ``count`` shards that tile it: every record of the export is in
exactly one shard. How a shard selects its records is the dialect's business (``api/v1/shards``:
a range of the first sort value, read with ``searchAfter``; ``api/v2/shards``: a window of a date
filter), so the layers above only carry ``Shard`` objects from the plan to the dialect's
paginator, and print or store them as JSON.

The plan is a pure function of the export and the probes' answers (the smallest and largest
values the server reports), so planning twice over the same data gives the same plan; a plan is
stored with the snapshot it fills, so the shards of one run never mix two plans.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# ``shards: auto`` on its own: as many shards as the run may have requests in flight.
AUTO = "auto"
PLAN_VERSION = 1


@dataclass(frozen=True)
class Shard:
    """One shard: ``[lower, upper)`` of the plan's ordered values (None: unbounded), and/or
    filter entries merged into the export's filter (v2 windows)."""

    index: int
    lower: int | None = None
    upper: int | None = None
    filter: dict[str, Any] = dataclasses.field(default_factory=dict)
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "lower": self.lower,
            "upper": self.upper,
            "filter": self.filter,
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shard:
        lower, upper = data.get("lower"), data.get("upper")
        return cls(
            index=int(data["index"]),
            lower=None if lower is None else int(lower),
            upper=None if upper is None else int(upper),
            filter=dict(data.get("filter") or {}),
            label=str(data.get("label", "")),
        )


@dataclass(frozen=True)
class ShardPlan:
    """The shards of one export, in order, with how they were cut."""

    export: str
    endpoint: str
    api: str
    method: str  # key-range | date-range (v1, searchAfter) | date-window (v2 filter)
    field: str
    shards: tuple[Shard, ...]
    probes: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.shards)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan_version": PLAN_VERSION,
            "export": self.export,
            "endpoint": self.endpoint,
            "api": self.api,
            "method": self.method,
            "field": self.field,
            "count": self.count,
            "probes": self.probes,
            "shards": [s.to_dict() for s in self.shards],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShardPlan:
        return cls(
            export=str(data["export"]),
            endpoint=str(data["endpoint"]),
            api=str(data["api"]),
            method=str(data["method"]),
            field=str(data["field"]),
            shards=tuple(Shard.from_dict(s) for s in data["shards"]),
            probes=dict(data.get("probes") or {}),
        )


def cut_points(spans: list[tuple[int, int]], count: int) -> list[int]:
    """``count - 1`` non-decreasing cuts spreading ``count`` shards evenly over the values the
    spans ``[lo, hi]`` (inclusive, sorted, disjoint) hold, as if the spans were one range (a
    gap between Zeebe partitions holds no keys, so no shard is wasted on it). Without spans
    (no data) every cut is 0: all shards but the last are empty, which is still a tiling."""
    if count <= 1:
        return []
    if not spans:
        return [0] * (count - 1)
    widths = [hi - lo + 1 for lo, hi in spans]
    total = sum(widths)
    cuts = []
    for k in range(1, count):
        offset = total * k // count  # the k-th cut's position in the concatenated spans
        for (lo, _hi), width in zip(spans, widths, strict=True):
            if offset < width:
                cuts.append(lo + offset)
                break
            offset -= width
    return cuts


def bounded(cuts: list[int], index: int) -> tuple[int | None, int | None]:
    """Shard ``index``'s ``[lower, upper)`` between the cuts (the first and last unbounded)."""
    lower = cuts[index - 1] if index > 0 else None
    upper = cuts[index] if index < len(cuts) else None
    return lower, upper


def shard_count(shards: int | str, max_in_flight: int, requested: int | None = None) -> int:
    """How many shards a plan has: the spec's count, ``auto``: the run's ``max_in_flight``
    (or the count ``run --shard I/N`` names)."""
    if shards == AUTO:
        return requested if requested is not None else max(1, max_in_flight)
    return int(shards)
