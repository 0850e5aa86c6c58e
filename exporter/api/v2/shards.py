"""v2 shards: windows of a creation date, as ``$gte``/``$lt`` filters.

v2 cannot filter keys by range (keys take ``$eq $neq $exists $in $notIn`` only) and its cursor
is opaque, never fabricated: a shard is a date window. The date is one every record has from
its creation (a window tiling would miss records whose date is null, such as a running
instance's ``endDate``): ``SHARD_FIELDS``. The planner probes the smallest and largest value
(size-1 searches sorted both ways) and spreads the cuts between them; the first window has no
lower bound and the last no upper one, so the windows tile the export whatever the probes
found. An export already limited to a ``[$gte, $lt)`` window of that field (an incremental
window) is split inside it, without probes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from exporter.api.shards import Shard, ShardPlan, bounded, cut_points
from exporter.api.types import Endpoint
from exporter.api.v2.filters import parse_rfc3339
from exporter.api.v2.paging import CursorPaginator
from exporter.api.v2.windows import window_fields
from exporter.spec import ExportSpec, SortSpec

# Per endpoint, the date every record has from its creation (orchestration-v2.md field lists).
SHARD_FIELDS = {
    "process-instances": "startDate",
    "flownode-instances": "startDate",
    "incidents": "creationTime",
    "decision-instances": "evaluationDate",
    "user-tasks": "creationDate",
    "jobs": "creationTime",  # 8.9+; 8.8's job dates (deadline, endTime) may be null
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def shard_field(endpoint: Endpoint, export: Mapping[str, Any], server_version: str) -> str:
    """The field the export's windows are cut on; ValueError says why there is none."""
    incremental = export.get("incremental")
    if isinstance(incremental, Mapping) and isinstance(incremental.get("field"), str):
        return str(incremental["field"])  # split each incremental window further
    name = SHARD_FIELDS.get(endpoint.name)
    spec = endpoint.field(name) if name is not None else None
    usable = spec is not None and spec.sortable  # the probes sort by it
    if name is None or not usable or name not in window_fields(endpoint, server_version):
        raise ValueError(
            f"{endpoint.name} has no sortable creation date with $gte/$lt on v2 "
            f"{server_version}, and "
            "v2 keys take no range ($eq $neq $exists $in $notIn only); export it unsharded"
        )
    filters = export.get("filter")
    if isinstance(filters, Mapping) and name in filters:
        raise ValueError(
            f"it filters {name!r}, the date its shards are windows of; remove that filter or "
            "export it unsharded"
        )
    return name


def shard_problem(endpoint: Endpoint, export: Mapping[str, Any], server_version: str) -> str | None:
    try:
        shard_field(endpoint, export, server_version)
    except ValueError as exc:
        return str(exc)
    return None


def _ms(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        return (parse_rfc3339(text) - _EPOCH) // timedelta(milliseconds=1)
    except ValueError:
        return None


def _iso(epoch_ms: int) -> str:
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _probe(
    client: Any, endpoint: Endpoint, export: ExportSpec, name: str, order: str
) -> int | None:
    """The smallest (ASC) or largest (DESC) value of ``name`` among the export's records."""
    probe = replace(export, sort=(SortSpec(name, order),), page_size=1, max_records=None)
    body = CursorPaginator(endpoint, probe).first_request()  # type: ignore[arg-type]
    response = client.post_json(endpoint.search_path, body)
    items = response.get("items") if isinstance(response, dict) else None
    if not items or not isinstance(items[0], dict):
        return None
    return _ms(items[0].get(name))


def _window(existing: Any) -> tuple[str | None, str | None]:
    """The ``$gte``/``$lt`` bounds the export's filter already puts on the field."""
    if isinstance(existing, Mapping):
        low, high = existing.get("$gte"), existing.get("$lt")
        return (low if isinstance(low, str) else None, high if isinstance(high, str) else None)
    return None, None


def plan(
    client: Any, endpoint: Endpoint, export: ExportSpec, count: int, server_version: str
) -> ShardPlan:
    document = {"filter": dict(export.filter), "incremental": None}
    if export.incremental is not None:
        document["incremental"] = {"field": export.incremental.field}
    name = shard_field(endpoint, document, server_version)
    low, high = _window(export.filter.get(name))
    spans: list[tuple[int, int]] = []
    start, end = _ms(low), _ms(high)
    if start is not None and end is not None:
        spans = [(start, end - 1)] if end > start else []
        probes: dict[str, Any] = {"window": [low, high]}
    else:
        smallest = _probe(client, endpoint, export, name, "ASC")
        largest = _probe(client, endpoint, export, name, "DESC") if smallest is not None else None
        if smallest is not None:
            spans = [(smallest, max(smallest, largest if largest is not None else smallest))]
        probes = {"smallest": low if smallest is None else _iso(smallest)}
        probes["largest"] = None if largest is None else _iso(largest)
    cuts = cut_points(spans, count)
    shards = []
    for index in range(count):
        lower, upper = bounded(cuts, index)
        gte = low if lower is None else _iso(lower)
        lt = high if upper is None else _iso(upper)
        bounds = {op: value for op, value in (("$gte", gte), ("$lt", lt)) if value is not None}
        filters = {name: bounds} if bounds else {}
        label = f"{name} from {gte or 'start'} to {lt or 'end'}"
        shards.append(Shard(index, filter=filters, label=label))
    return ShardPlan(
        export=export.name,
        endpoint=endpoint.name,
        api="v2",
        method="date-window",
        field=name,
        shards=tuple(shards),
        probes=probes,
    )


def paginator(
    endpoint: Endpoint,
    export: ExportSpec,
    shard: Shard,
    *,
    start_cursor: Any = None,
    already_emitted: int = 0,
) -> CursorPaginator:
    export = replace(export, filter={**export.filter, **shard.filter})
    return CursorPaginator(
        endpoint,  # type: ignore[arg-type]
        export,
        start_cursor=start_cursor,
        already_emitted=already_emitted,
    )
