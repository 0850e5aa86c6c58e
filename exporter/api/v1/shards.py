"""v1 shards: ranges of the export's first sort value, read with ``searchAfter``.

A v1 search sorts by the export's sort (or by the unique key when it has none), and
``searchAfter`` takes any values of the sort's shape, not only cursors the server sent. So a
shard ``[lower, upper)`` of the sort's values starts after a cursor just below ``lower`` (the
value ``lower - 1`` and a tie-breaker at the end of its order: every record at ``lower - 1`` is
skipped, every record at ``lower`` is read) and ends at the first record at or beyond ``upper``.
Values are compared as *ranks*: the value itself for an ascending sort, its negation for a
descending one, so "beyond" is always "greater".

* **Keys** (no sort, or a sort by a key field): Zeebe keys are ``partitionId << 51`` plus a
  counter, so each partition's keys are one range. The planner probes the smallest and largest
  key of the whole export, then of each partition in between (size-1 searches sorted both
  ways), and spreads the cuts over the partitions' ranges as if they were one.
* **Dates** (a sort by a date field): the server sorts by the date's epoch milliseconds, with
  missing dates last in both directions; the cuts spread over the smallest and largest date,
  and the last shard (unbounded) holds the records without one.

Every shard but the first starts at a cut and every shard but the last ends at the next one, so
the shards tile the export whatever the probes found: a record added between the plan and the
run still falls in exactly one shard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from exporter.api.rawpage import RawPage
from exporter.api.shards import Shard, ShardPlan, bounded, cut_points
from exporter.api.types import Endpoint, Kind
from exporter.api.v1.checks import native_sort
from exporter.api.v1.paging import SearchAfterPaginator
from exporter.spec import ExportSpec

LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)
PARTITION_BITS = 51  # Protocol.KEY_BITS: the partition id sits above the key's 51 low bits
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_PARTITIONS_PROBED = 64  # beyond that many partitions in between, one range (keys look odd)


@dataclass(frozen=True)
class Basis:
    """What the shards of an export are ranges of: its first sort field."""

    field: str
    kind: Kind  # KEY or DATE
    descending: bool
    sorted_explicitly: bool  # the export sends a sort (cursor: [value, tie-breaker])
    tie_last: Any  # the unique key's value after every other one: LONG_MAX, or null (strings)

    def rank(self, value: int) -> int:
        return -value if self.descending else value

    def value(self, rank: int) -> int:
        return -rank if self.descending else rank

    def cursor_after(self, rank: int, *, explicit: bool | None = None) -> list[Any]:
        """A ``searchAfter`` after every record whose rank is ``rank`` or less."""
        explicit = self.sorted_explicitly if explicit is None else explicit
        value = self.value(rank)
        return [value, self.tie_last] if explicit else [value]


def basis(endpoint: Endpoint, sort: Sequence[Mapping[str, Any]]) -> Basis | str:
    """The export's basis, or why it has none (a sentence naming the sort)."""
    unique = endpoint.field(endpoint.unique_key)
    tie_last = None if unique is None or unique.kind is not Kind.KEY else LONG_MAX
    if len(sort) > 1:
        names = ", ".join(str(s.get("field")) for s in sort)
        return (
            f"it sorts by {len(sort)} fields ({names}); a v1 shard is a range of one sort "
            "field, a key or a date"
        )
    if not sort:
        if tie_last is None:
            return (
                f"{endpoint.name} is ordered by its text id {endpoint.unique_key!r} when the "
                "export has no sort; sort it by key or by a date field to shard it"
            )
        return Basis(endpoint.unique_key, Kind.KEY, False, False, tie_last)
    name = native_sort(endpoint, {"field": str(sort[0].get("field")), "order": "ASC"})["field"]
    spec = endpoint.field(name)
    if spec is None or spec.kind not in (Kind.KEY, Kind.DATE):
        kind = "unknown" if spec is None else spec.kind.value
        return (
            f"it sorts by {name!r} ({kind}); a v1 shard is a range of a key or date sort "
            "(sort by key or a date field, or leave the sort out)"
        )
    descending = str(sort[0].get("order", "ASC")).upper() == "DESC"
    return Basis(name, spec.kind, descending, True, tie_last)


def shard_problem(
    endpoint: Endpoint, export: Mapping[str, Any], server_version: str = ""
) -> str | None:
    """Why a spec's export (its document) cannot be sharded on v1, or None."""
    found = basis(endpoint, export.get("sort") or [])
    return found if isinstance(found, str) else None


# -- planning ----------------------------------------------------------------------------


def _probe(
    client: Any,
    endpoint: Endpoint,
    export: ExportSpec,
    found: Basis,
    *,
    reverse: bool,
    after: int | None,
) -> int | None:
    """The rank of the first record of the export in its order (``reverse``: the opposite
    order) after the sort value ``after`` (None: from the start); None when there is none, or
    when only records without the field remain (they sort last either way)."""
    descending = found.descending != reverse
    body: dict[str, Any] = {
        "size": 1,
        "sort": [{"field": found.field, "order": "DESC" if descending else "ASC"}],
    }
    if export.filter:
        body["filter"] = dict(export.filter)
    if after is not None:
        body["searchAfter"] = [after, found.tie_last]
    response = client.post_json(endpoint.search_path, body)
    if not isinstance(response, dict) or not response.get("items"):
        return None
    values = response.get("sortValues")
    value = values[0] if isinstance(values, list) and values else None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    # ES reports a missing value as Long.MAX (ascending) or Long.MIN (descending).
    if value == (LONG_MIN if descending else LONG_MAX):
        return None
    return found.rank(value)


def _partition_spans(
    client: Any, endpoint: Endpoint, export: ExportSpec, found: Basis, first: int, last: int
) -> list[tuple[int, int]]:
    """``[smallest, largest]`` key of every partition holding keys of the export."""
    low, high = first >> PARTITION_BITS, last >> PARTITION_BITS
    if high - low > MAX_PARTITIONS_PROBED or first < 0:
        return [(first, last)]

    def span(partition: int) -> tuple[int, int] | None:
        start, end = partition << PARTITION_BITS, (partition + 1) << PARTITION_BITS
        smallest = first if partition == low else None
        if smallest is None:
            smallest = _probe(client, endpoint, export, found, reverse=False, after=start - 1)
        if smallest is None or smallest >= end:
            return None
        largest = last if partition == high else None
        if largest is None:
            largest = _probe(client, endpoint, export, found, reverse=True, after=end)
        if largest is None or largest < smallest:
            return None
        return smallest, largest

    # The partitions are probed at once (the client's max_in_flight bounds the requests).
    with ThreadPoolExecutor(min(8, high - low + 1), thread_name_prefix="probe") as pool:
        found_spans = list(pool.map(span, range(low, high + 1)))
    return [s for s in found_spans if s is not None]


def plan(
    client: Any, endpoint: Endpoint, export: ExportSpec, count: int, server_version: str = ""
) -> ShardPlan:
    found = basis(endpoint, [s.to_api() for s in export.sort])
    if isinstance(found, str):
        raise ValueError(found)
    with ThreadPoolExecutor(2, thread_name_prefix="probe") as pool:
        ends = [
            pool.submit(_probe, client, endpoint, export, found, reverse=reverse, after=None)
            for reverse in (False, True)
        ]
        first, last = (end.result() for end in ends)
    spans: list[tuple[int, int]] = []
    if first is not None:
        last = first if last is None else last
        if found.kind is Kind.KEY and not found.descending:
            spans = _partition_spans(client, endpoint, export, found, first, last)
        else:
            spans = [(first, last)]
    cuts = cut_points(spans, count)
    order = "DESC" if found.descending else "ASC"
    shards = []
    for index in range(count):
        lower, upper = bounded(cuts, index)
        shards.append(Shard(index, lower, upper, label=_label(found, lower, upper)))
    return ShardPlan(
        export=export.name,
        endpoint=endpoint.name,
        api="v1",
        method="key-range" if found.kind is Kind.KEY else "date-range",
        field=f"{found.field} {order}",
        shards=tuple(shards),
        probes={"spans": [[lo, hi] for lo, hi in spans]},
    )


def _label(found: Basis, lower: int | None, upper: int | None) -> str:
    def shown(rank: int | None, missing: str) -> str:
        if rank is None:
            return missing
        value = found.value(rank)
        if found.kind is Kind.DATE:
            moment = _EPOCH + timedelta(milliseconds=value)
            return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return str(value)

    left = shown(lower, "start")
    right = shown(upper, "end (and records without the field)")
    return f"{found.field} {'DESC' if found.descending else 'ASC'} from {left} to {right}"


# -- paging ------------------------------------------------------------------------------


def _epoch_ms(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return (moment - _EPOCH) // timedelta(milliseconds=1)  # exact, unlike timestamp() * 1000


class ShardPaginator(SearchAfterPaginator):
    """``SearchAfterPaginator`` that stops at the first record at or beyond ``upper``."""

    def __init__(
        self,
        endpoint: Endpoint,
        export: ExportSpec,
        found: Basis,
        upper: int | None,
        *,
        start_cursor: Sequence[Any] | None = None,
        already_emitted: int = 0,
    ) -> None:
        super().__init__(
            endpoint, export, start_cursor=start_cursor, already_emitted=already_emitted
        )
        self._basis = found
        self._upper = upper

    def _item_rank(self, item: dict[str, Any]) -> int:
        value = item.get(self._basis.field)
        if self._basis.kind is Kind.DATE:
            value = _epoch_ms(value)
        if isinstance(value, bool) or not isinstance(value, int):
            return LONG_MAX + 1  # no value: sorts last, beyond every bound
        return self._basis.rank(value)

    def _beyond(self, cursor: Any) -> bool:
        """Whether a page ending at ``cursor`` reaches the shard's upper bound."""
        if self._upper is None or not isinstance(cursor, list) or not cursor:
            return False
        value = cursor[0]
        if isinstance(value, bool) or not isinstance(value, int):
            return True  # let the parsed page decide, item by item
        return self._basis.rank(value) >= self._upper

    def update_state(self, response: Any) -> list[dict[str, Any]]:
        items = super().update_state(response)
        if not items or not self._beyond(self.cursor):
            return items
        keep = next(
            (i for i, item in enumerate(items) if self._item_rank(item) >= self._upper),  # type: ignore[operator]
            len(items),
        )
        self._emitted -= len(items) - keep
        self._done = True
        return items[:keep]

    def update_state_raw(self, page: RawPage) -> list[dict[str, Any]] | None:
        tail = page.tail_of("sortValues")
        if tail is not None and self._beyond(tail.cursor):
            return self.update_state(self.parse(page))  # the shard's last page: cut it
        return super().update_state_raw(page)


def paginator(
    endpoint: Endpoint,
    export: ExportSpec,
    shard: Shard,
    *,
    start_cursor: Any = None,
    already_emitted: int = 0,
) -> ShardPaginator:
    found = basis(endpoint, [s.to_api() for s in export.sort])
    if isinstance(found, str):
        raise ValueError(found)
    if start_cursor is None and shard.lower is not None:
        start_cursor = found.cursor_after(shard.lower - 1)
    export = replace(export, filter={**export.filter, **shard.filter})
    return ShardPaginator(
        endpoint,
        export,
        found,
        shard.upper,
        start_cursor=start_cursor,
        already_emitted=already_emitted,
    )
