"""Operate v1 search semantics: filter, sort + tie-breaker, searchAfter by bisection, total cap.

Behaviour follows operate-api.md section 2 (QueryValidator, ElasticsearchDao):
- filter: exact term match per field, ANDed; dates are ``gte = lte = value`` with optional
  ``||/unit`` rounding; incident ``message`` is a full-text AND match.
- size: default 10, 400 outside 1..1000.
- sort: 400 for unknown fields or a missing ``field``; a declared but non-indexed field
  (``flowNodeName``...) fails in the "search engine": 500. The unique key is appended ASC.
- searchAfter: 400 when empty or (with sort) of the wrong length; any other mismatch is a
  search-engine failure: 500 "Error in reading ...".
- Missing values sort last in both orders and show up in ``sortValues`` as Long.MAX/MIN
  (numbers) or null (strings), as Elasticsearch does.
Simulator choice (documented in the README): unknown or non-filterable filter fields -> 400.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from exporter.api.types import Endpoint, Kind
from exporter.simulator.data import Row, Table, gc_paused
from exporter.simulator.v1 import parse_date

MAX_SIZE = 1000
DEFAULT_SIZE = 10
TOTAL_CAP = 10_000
LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)
NUMERIC = (Kind.KEY, Kind.INT32, Kind.DATE, Kind.BOOL)
# Entity fields the search engine cannot sort on (computed or full-text/unindexed values).
NOT_INDEXED = {Kind.XML}
INCIDENT_SORT_ALIASES = {"type": "errorType", "message": "errorMessage"}


class QueryError(Exception):
    """An API error: status, message and Operate's problem ``type``."""

    def __init__(self, status: int, message: str, type_: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_


def invalid(message: str) -> QueryError:
    return QueryError(400, message, "Invalid request")


def data_invalid(message: str) -> QueryError:
    return QueryError(400, message, "Data invalid")


def engine_failure(endpoint: Endpoint) -> QueryError:
    what = endpoint.name.replace("-", " ").replace("drd", "decision requirements")
    return QueryError(500, f"Error in reading {what}", "API application error")


@dataclass(frozen=True)
class Query:
    filters: tuple[tuple[str, Any], ...]  # canonical, hashable: (field, match spec)
    size: int
    sort: tuple[tuple[str, bool], ...]  # (field, descending), user sorts only
    search_after: tuple[Any, ...] | None


# ---------------------------------------------------------------- parsing and validation


def parse_query(endpoint: Endpoint, body: Any) -> Query:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    unknown = set(body) - {"filter", "size", "sort", "searchAfter"}
    if unknown:
        raise invalid(f"Unrecognized field(s) in query: {', '.join(sorted(unknown))}")
    size = body.get("size")
    if size is None:
        size = DEFAULT_SIZE
    if isinstance(size, bool) or not isinstance(size, int):
        raise invalid("size must be an integer")
    if size <= 0 or size > MAX_SIZE:
        raise invalid(f"size should be greater than zero and less than {MAX_SIZE}")
    sort = _parse_sort(endpoint, body.get("sort"))
    filters = _parse_filter(endpoint, body.get("filter"))
    search_after = body.get("searchAfter")
    if search_after is not None:
        if not isinstance(search_after, list):
            raise invalid("searchAfter must be an array")
        if not search_after:
            raise data_invalid("searchAfter should have a least 1 value")
        if sort and len(search_after) != len(sort) + 1:
            raise data_invalid(f"searchAfter should have a {len(sort) + 1} values")
        search_after = tuple(search_after)
    return Query(filters=filters, size=size, sort=sort, search_after=search_after)


def _parse_sort(endpoint: Endpoint, sort: Any) -> tuple[tuple[str, bool], ...]:
    if sort is None:
        return ()
    if not isinstance(sort, list):
        raise invalid("sort must be an array")
    parsed = []
    invalid_fields = []
    for entry in sort:
        if not isinstance(entry, dict) or not entry.get("field"):
            raise data_invalid(
                'No \'field\' given in sort. Example: "sort": [{"field":"name","order": "ASC"}] '
            )
        name = entry["field"]
        order = entry.get("order") or "ASC"
        if order not in ("ASC", "DESC"):
            raise invalid(f"Invalid sort order {order!r}: expected ASC or DESC")
        spec = endpoint.field(name)
        if spec is None or spec.kind is Kind.XML:
            invalid_fields.append(str(name))
            continue
        parsed.append((name, order == "DESC"))
    if invalid_fields:
        raise data_invalid(f"Sort has invalid field(s): {', '.join(invalid_fields)}")
    return tuple(parsed)


def _parse_filter(endpoint: Endpoint, filt: Any) -> tuple[tuple[str, Any], ...]:
    if filt is None:
        return ()
    if not isinstance(filt, dict):
        raise invalid("filter must be an object")
    conditions: dict[str, Any] = filt  # a JSON object: its keys are strings
    out: list[tuple[str, Any]] = []
    for raw_name, value in conditions.items():
        name = endpoint.filter_aliases.get(raw_name, raw_name)
        spec = endpoint.field(name)
        if spec is None or spec.kind is Kind.XML:
            raise invalid(
                f"Unknown filter field '{raw_name}' for {endpoint.name}; filterable fields: "
                + ", ".join(endpoint.filter_fields)
            )
        if not spec.filterable:
            raise invalid(f"Field '{raw_name}' of {endpoint.name} cannot be used in a filter")
        if value is None:
            continue  # Jackson leaves the field null: no condition
        out.append((name, _filter_spec(endpoint, name, spec.kind, value)))
    out.sort()
    return tuple(out)


def _filter_spec(endpoint: Endpoint, name: str, kind: Kind, value: Any) -> Any:
    bad = invalid(f"Invalid value for filter field '{name}': {orjson.dumps(value).decode()}")
    if kind in (Kind.KEY, Kind.INT32):
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return ("eq", value)
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return ("eq", int(value))
        raise bad
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return ("eq", value)
        if value in ("true", "false"):
            return ("eq", value == "true")
        raise bad
    if not isinstance(value, str):
        raise bad
    if kind is Kind.ENUM:
        spec = endpoint.field(name)
        if spec is not None and spec.enum and value not in spec.enum:
            raise bad
        return ("eq", value)
    if kind is Kind.DATE:
        return ("range", *_date_range(name, value))
    if endpoint.name == "incidents" and name == "message":
        return ("words", tuple(_words(value)))
    return ("eq", value)


_UNITS = "yMwdhHms"


def _date_range(name: str, value: str) -> tuple[int, int]:
    """``gte = lte = value`` with ES date-math rounding: [start of unit, end of unit]."""
    base, _, math = value.partition("||")
    try:
        ms = parse_date(base)
    except ValueError:
        raise invalid(
            f"Invalid date for filter field '{name}': {value!r}; expected "
            "yyyy-MM-dd'T'HH:mm:ss.SSSZ, optionally with ||/y, ||/M, ||/w, ||/d, ||/h, ||/m, ||/s"
        ) from None
    if not math:
        return ms, ms
    if len(math) != 2 or math[0] != "/" or math[1] not in _UNITS:
        raise invalid(f"Unsupported date math {('||' + math)!r} in filter field '{name}'")
    return _round(ms, math[1])


def _round(ms: int, unit: str) -> tuple[int, int]:
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    if unit == "y":
        start = dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1)
    elif unit == "M":
        start = dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    elif unit == "w":  # ISO weeks start on Monday, as in Elasticsearch
        day = dt.replace(hour=0, minute=0, second=0, microsecond=0)
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    else:
        step = {"d": 86_400_000, "h": 3_600_000, "H": 3_600_000, "m": 60_000, "s": 1000}[unit]
        low = ms - ms % step
        return low, low + step - 1
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    low = (start - epoch) // timedelta(milliseconds=1)
    high = (end - epoch) // timedelta(milliseconds=1) - 1
    return low, high


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"\W+", text.lower()) if w]


# ---------------------------------------------------------------- execution


class _Desc:
    """Reverses string order for DESC sorts inside a tuple key."""

    __slots__ = ("v",)

    def __init__(self, v: str) -> None:
        self.v = v

    def __lt__(self, other: _Desc) -> bool:
        return self.v > other.v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.v == other.v

    def __hash__(self) -> int:
        return hash(self.v)


@dataclass
class _Ordered:
    positions: list[int]  # row indices in result order
    keys: list[tuple[Any, ...]]  # comparable sort key of each result, for bisection


def _matcher(
    filters: tuple[tuple[str, Any], ...], derived: Mapping[str, Callable[[Row], Any]]
) -> Callable[[Row], bool]:
    def match(row: Row) -> bool:
        for name, spec in filters:
            value = derived[name](row) if name in derived else row.get(name)
            if value is None:
                return False
            op = spec[0]
            if op == "eq":
                if value != spec[1] or type(value) is not type(spec[1]):
                    return False
            elif op == "range":
                if not spec[1] <= value <= spec[2]:
                    return False
            elif op == "words":
                words = set(_words(value))
                if not all(w in words for w in spec[1]):
                    return False
        return True

    return match


class SearchEngine:
    """Executes parsed queries over one table; results per (filter, sort) are cached."""

    def __init__(
        self,
        endpoint: Endpoint,
        table: Table,
        cache_size: int = 32,
        derived: Mapping[str, Callable[[Row], Any]] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.table = table
        # Fields whose search value is the view's, not the row's (a variable's ``truncated``).
        self.derived = dict(derived or {})
        self.kinds = {f.name: f.kind for f in endpoint.fields}
        self._cache: OrderedDict[tuple[Any, ...], _Ordered] = OrderedDict()
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Live mode changed the table: cached result orders are stale."""
        with self._lock:
            self._cache.clear()

    def _sort_fields(self, query: Query) -> list[tuple[str, bool]]:
        return [*query.sort, (self.endpoint.unique_key, False)]

    def _component(self, name: str, desc: bool, value: Any) -> Any:
        """Comparable key component; missing values last in both orders (ES ``_last``)."""
        if self.kinds[name] in NUMERIC:
            if value is None:
                value = LONG_MIN if desc else LONG_MAX
            return -int(value) if desc else int(value)
        if value is None:
            return (1, "")
        return (0, _Desc(value) if desc else value)

    def _ordered(self, query: Query) -> _Ordered:
        cache_key = (query.filters, query.sort)
        with self._lock:
            hit = self._cache.get(cache_key)
            if hit is not None:
                self._cache.move_to_end(cache_key)
                return hit
        with gc_paused():
            ordered = self._build(query)
        with self._lock:
            self._cache[cache_key] = ordered
            while len(self._cache) > 32:
                self._cache.popitem(last=False)
        return ordered

    def _build(self, query: Query) -> _Ordered:
        rows = self.table.rows
        if query.filters:
            match = _matcher(query.filters, self.derived)
            candidates = self._range_candidates(query.filters)
            if candidates is None:
                positions = [i for i, r in enumerate(rows) if match(r)]
            else:
                positions = [i for i in candidates if match(rows[i])]
        else:
            positions = list(range(len(rows)))
        fields = self._sort_fields(query)
        comp = self._component
        keys = [tuple(comp(n, d, rows[i].get(n)) for n, d in fields) for i in positions]
        if query.sort or not self.table.key_ordered:
            order = sorted(range(len(positions)), key=keys.__getitem__)
            positions = [positions[j] for j in order]
            keys = [keys[j] for j in order]
        return _Ordered(positions, keys)

    def _range_candidates(self, filters: tuple[tuple[str, Any], ...]) -> list[int] | None:
        """The rows a date condition (a ``||/h`` bucket...) admits, from the table's range index
        instead of a pass over every row; the other conditions are checked on these only. None
        when no date condition narrows the search."""
        for name, spec in filters:
            if spec[0] == "range" and name not in self.derived:
                return self.table.positions_between(name, spec[1], spec[2])
        return None

    def _after_key(self, query: Query) -> tuple[Any, ...]:
        fields = self._sort_fields(query)
        values = query.search_after or ()
        if len(values) != len(fields):
            raise engine_failure(self.endpoint)
        out = []
        for (name, desc), value in zip(fields, values, strict=True):
            kind = self.kinds[name]
            if kind in NUMERIC:
                if isinstance(value, bool) and kind is Kind.BOOL:
                    value = int(value)
                elif isinstance(value, str) and re.fullmatch(r"-?\d+", value):
                    value = int(value)  # ES coerces numeric strings for numeric fields
                elif isinstance(value, bool) or not isinstance(value, int):
                    raise engine_failure(self.endpoint)
                if not LONG_MIN <= value <= LONG_MAX:
                    raise engine_failure(self.endpoint)
            elif value is not None and not isinstance(value, str):
                raise engine_failure(self.endpoint)
            out.append(self._component(name, desc, value))
        return tuple(out)

    def sort_values(self, query: Query, row: Row) -> list[Any]:
        """ES ``sortValues`` of one hit: date fields as epoch millis, missing as Long.MAX/MIN."""
        values: list[Any] = []
        for name, desc in self._sort_fields(query):
            value = row.get(name)
            kind = self.kinds[name]
            if kind in NUMERIC:
                if value is None:
                    value = LONG_MIN if desc else LONG_MAX
                values.append(int(value))
            else:
                values.append(value)
        return values

    def check_sortable(self, query: Query) -> None:
        for name, _desc in query.sort:
            spec = self.endpoint.field(name)
            if spec is None or not spec.sortable:
                raise engine_failure(self.endpoint)

    def search(self, query: Query) -> tuple[list[int], list[Any], int]:
        """-> (row indices of the page, sortValues, total capped at 10,000)."""
        self.check_sortable(query)
        after = self._after_key(query) if query.search_after is not None else None
        ordered = self._ordered(query)
        start = 0 if after is None else bisect_right(ordered.keys, after)
        page = ordered.positions[start : start + query.size]
        total = min(len(ordered.positions), TOTAL_CAP)
        if not page:
            return [], [], total
        return page, self.sort_values(query, self.table.rows[page[-1]]), total
