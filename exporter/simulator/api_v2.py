"""The v2 REST routes: search with page cursors, get by key, definition XML, topology.

Semantics (``orchestration-v2.md`` sections 2-3 and 7, and the 8.8/8.9 specs): a search body is
optional; unknown top-level keys, bad filters and sorts (validated with the operator set of the
configured ``server_version``), a bad ``page`` or a cursor that is not base64 of a JSON array are
400 problem details ``{type, title, status, detail, instance}`` whose ``instance`` is the request
path. Results are sorted by the requested sort values and then by the unique key (the server's
tie-breaker, also where the key itself may not be named in ``sort``); nulls sort last.

Pages: ``{limit}``, ``{from, limit}`` (offset), ``{after, limit}`` (forward from an
``endCursor``) and ``{before, limit}`` (the ``limit`` items just before a ``startCursor``).
``startCursor``/``endCursor`` are base64 of the first/last item's sort values; an empty page has
none (8.9: ``null``; 8.8, whose schema does not allow null: left out), and neither has a search
filtered by ``isLatestVersion`` its ``startCursor`` (the specs say so). ``totalItems`` is capped
at 10,000 with ``hasMoreTotalItems``.

Filters the simulated cluster cannot answer (``batchOperationId``/``batchOperationKey``: it has
no batch operations) are refused with a 400 naming the field rather than matching nothing.
A path the simulator serves with another method is a 405; any other path is a 404.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from exporter.api.types import Kind
from exporter.api.v2.filters import (
    CursorError,
    cursor_values,
    decode_cursor,
    encode_cursor,
    matches_v2_filter,
    parse_rfc3339,
    validate_v2_filter,
    validate_v2_sort,
)
from exporter.api.v2.registry import V2_ENDPOINTS, V2Endpoint
from exporter.simulator.clock import ClockError, parse_instant
from exporter.simulator.data import Dataset
from exporter.simulator.responses import Response, v2_problem
from exporter.simulator.stats import Stats
from exporter.simulator.v2 import V2View

TOTAL_CAP = 10_000
GATEWAY_VERSIONS = {"8.8": "8.8.0", "8.9": "8.9.0"}
PARTITIONS = 6  # as the dataset's keys: (partition << 51) + counter
_BY_PATH = {e.path: e for e in V2_ENDPOINTS.values()}
_ROUTE = re.compile(r"^(/v2/[a-z-]+)(?:/([^/]+))?(?:/([a-z-]+))?$")
_TOP_KEYS = ("filter", "sort", "page")
_PAGE_FORMS = ({"limit"}, {"from", "limit"}, {"after", "limit"}, {"before", "limit"})
# Filter fields of the simulated processes that have no data to match: refused, never empty.
UNSUPPORTED_FILTERS = {
    "batchOperationId": "the simulator has no batch operations",
    "batchOperationKey": "the simulator has no batch operations",
}
# Process-instance filters that Camunda applies to one element instance of the process together.
_ELEMENT_FILTERS = ("elementId", "elementInstanceState", "hasElementInstanceIncident")


class _BadRequest(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _sort_key(value: Any, kind: Any) -> Any:
    if value is None:
        return None
    if kind is Kind.KEY:
        try:
            return int(value)
        except (TypeError, ValueError):
            return str(value)
    return value


def _compare(a: Sequence[Any], b: Sequence[Any], descending: Sequence[bool]) -> int:
    for x, y, desc in zip(a, b, descending, strict=True):
        if x == y:
            continue
        if x is None:  # nulls last, whatever the direction
            return 1
        if y is None:
            return -1
        try:
            smaller = x < y
        except TypeError:
            smaller = str(x) < str(y)
        result = -1 if smaller else 1
        return -result if desc else result
    return 0


def _comparable(descending: Sequence[bool]) -> Callable[[Sequence[Any]], Any]:
    """A sort key for one search's sort keys (``_compare`` in that sort's directions)."""

    def compare(a: Sequence[Any], b: Sequence[Any]) -> int:
        return _compare(a, b, descending)

    return functools.cmp_to_key(compare)


def _matches(
    filter_doc: Mapping[str, Any], record: Mapping[str, Any], endpoint: V2Endpoint, view: V2View
) -> bool:
    """``matches_v2_filter`` plus the element filters of process instances, which must hold on
    one and the same element instance (also inside each ``$or`` group)."""
    groups = filter_doc.get("$or")
    element_doc = {k: v for k, v in filter_doc.items() if k in _ELEMENT_FILTERS}
    plain = {k: v for k, v in filter_doc.items() if k != "$or" and k not in _ELEMENT_FILTERS}
    if not matches_v2_filter(plain, record, endpoint, variables=view.variables):
        return False
    if element_doc and not any(
        matches_v2_filter(element_doc, element, endpoint) for element in record["_elements"]
    ):
        return False
    return groups is None or any(_matches(g, record, endpoint, view) for g in groups)


class _Ordered:
    """One search's matches in result order, with comparable keys for cursor bisection."""

    def __init__(self, records: list[dict[str, Any]], keys: list[Any], total: int) -> None:
        self.records = records
        self.keys = keys
        self.total = total


class V2Api:
    def __init__(self, dataset: Dataset, view: V2View, stats: Stats) -> None:
        self.dataset = dataset
        self.view = view
        self.stats = stats
        self.version = view.server_version
        self._cache: OrderedDict[bytes, _Ordered] = OrderedDict()
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Live mode changed the data: cached result orders are stale."""
        with self._lock:
            self._cache.clear()

    def handle(self, method: str, path: str, body: bytes, query: str = "") -> Response:
        if path == "/v2/topology":
            if method != "GET":
                return self._not_allowed(method, path, "GET")
            return Response(200, orjson.dumps(self.topology()), "application/json")
        match = _ROUTE.match(path)
        endpoint = _BY_PATH.get(match.group(1)) if match else None
        if match is None or endpoint is None:
            return self._not_found(method, path)
        ident, sub = match.group(2), match.group(3)
        if ident == "search" and sub is None:
            if method != "POST":
                return self._not_allowed(method, path, "POST")
            try:
                return self.search(endpoint, body, path, full_values=_full_values(endpoint, query))
            except _BadRequest as exc:
                return v2_problem(400, "INVALID_ARGUMENT", exc.detail, path)
        readable = ident is not None and (sub is None or (sub == "xml" and endpoint.has_xml))
        if readable and endpoint.has_get:
            if method != "GET":
                return self._not_allowed(method, path, "GET")
            return self.get(endpoint, unquote(ident), sub == "xml", path)
        return self._not_found(method, path)

    @staticmethod
    def _not_found(method: str, path: str) -> Response:
        return v2_problem(404, "NOT_FOUND", f"No endpoint {method} {path}", path)

    @staticmethod
    def _not_allowed(method: str, path: str, allowed: str) -> Response:
        answer = v2_problem(
            405, "METHOD_NOT_ALLOWED", f"Request method '{method}' is not supported", path
        )
        answer.headers.append(("Allow", allowed))
        return answer

    def topology(self) -> dict[str, Any]:
        version = GATEWAY_VERSIONS[self.version]
        partitions = [
            {"partitionId": p, "role": "leader", "health": "healthy"}
            for p in range(1, PARTITIONS + 1)
        ]
        broker = {
            "nodeId": 0,
            "host": "simulator",
            "port": 26501,
            "partitions": partitions,
            "version": version,
        }
        topology: dict[str, Any] = {"brokers": [broker]}
        if self.version != "8.8":
            topology["clusterId"] = None  # 8.9: required, nullable (no cluster id configured)
        return topology | {
            "clusterSize": 1,
            "partitionsCount": PARTITIONS,
            "replicationFactor": 1,
            "gatewayVersion": version,
            "lastCompletedChangeId": "-1",
        }

    # -- search -------------------------------------------------------------------------

    def _parse(self, endpoint: V2Endpoint, body: bytes) -> tuple[dict, list, dict]:
        try:
            request = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise _BadRequest(f"Request body is not valid JSON: {exc}") from None
        if not isinstance(request, dict):
            raise _BadRequest("Request body must be a JSON object")
        unknown = [k for k in request if k not in _TOP_KEYS]
        if unknown:
            raise _BadRequest(
                f"Unrecognized field(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(_TOP_KEYS)}"
            )
        filter_doc = request.get("filter") or {}
        problems = validate_v2_filter(filter_doc, endpoint, "filter", server_version=self.version)
        sort = request.get("sort") or []
        if not isinstance(sort, list) or not all(isinstance(s, dict) for s in sort):
            raise _BadRequest("sort must be an array of {field, order}")
        problems += validate_v2_sort(sort, endpoint, "sort", server_version=self.version)
        if problems:
            raise _BadRequest("; ".join(str(p) for p in problems))
        self._refuse_unsupported(filter_doc)
        return filter_doc, sort, self._parse_page(endpoint, request.get("page"))

    @staticmethod
    def _refuse_unsupported(filter_doc: Mapping[str, Any], path: str = "filter") -> None:
        for name, value in filter_doc.items():
            if name in UNSUPPORTED_FILTERS:
                raise _BadRequest(
                    f"{path}.{name}: not supported by the simulator ({UNSUPPORTED_FILTERS[name]})"
                )
            if name == "$or":
                for i, group in enumerate(value):
                    V2Api._refuse_unsupported(group, f"{path}.$or[{i}]")

    @staticmethod
    def _parse_page(endpoint: V2Endpoint, page: Any) -> dict[str, Any]:
        page = page or {}
        if not isinstance(page, dict) or not any(set(page) <= form for form in _PAGE_FORMS):
            raise _BadRequest(
                "page takes limit with at most one of from (offset), after or before (cursors)"
            )
        limit = page.get("limit", endpoint.default_page_limit)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise _BadRequest(f"page.limit must be 1..10000, got {limit!r}")
        offset = page.get("from", 0)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise _BadRequest(f"page.from must be an integer >= 0, got {offset!r}")
        out: dict[str, Any] = {"limit": limit, "from": offset}
        for name in ("after", "before"):
            if page.get(name) is not None:
                try:
                    out[name] = decode_cursor(page[name])
                except CursorError as exc:
                    raise _BadRequest(f"page.{name}: {exc}") from None
        return out

    def _ordered(self, endpoint: V2Endpoint, filter_doc: dict, sort: list) -> _Ordered:
        """Matches in result order, cached per (endpoint, filter, sort): paging a search asks
        for the same order once per page."""
        cache_key = orjson.dumps([endpoint.name, filter_doc, sort], option=orjson.OPT_SORT_KEYS)
        with self._lock:
            hit = self._cache.get(cache_key)
            if hit is not None:
                self._cache.move_to_end(cache_key)
                return hit
        fields, descending, kinds = self._sort_fields(endpoint, sort)
        everything = self.view.filter_records(endpoint.name)
        candidates, decided = self._date_candidates(endpoint, filter_doc)
        # Conditions the range index decided exactly are not parsed again record by record;
        # the record must still carry the date the filter would have read.
        rest = {k: v for k, v in filter_doc.items() if k not in decided}
        present = [_filter_attribute(endpoint, name) for name in decided]
        matched = [
            position
            for position in (range(len(everything)) if candidates is None else candidates)
            if all(everything[position].get(a) is not None for a in present)
            and (not rest or _matches(rest, everything[position], endpoint, self.view))
        ]
        records = self.view.search_records(endpoint.name)
        comparable = _comparable(descending)
        pairs = list(zip(fields, kinds, strict=True))
        values = [([_sort_key(records[p].get(f), k) for f, k in pairs], p) for p in matched]
        if not any(descending):
            # A plain pre-sort (nulls last, as _compare) leaves the comparator sort below a
            # single pass over one run; the order is the comparator's (the unique key breaks
            # every tie). Mixed types fall back to the comparator's str comparison alone.
            with contextlib.suppress(TypeError):
                values.sort(key=lambda item: [(v is None, v) for v in item[0]])
        keyed = sorted(((comparable(v), p) for v, p in values), key=lambda pair: pair[0])
        ordered = _Ordered([records[p] for _, p in keyed], [k for k, _ in keyed], len(matched))
        with self._lock:
            self._cache[cache_key] = ordered
            while len(self._cache) > 32:
                self._cache.popitem(last=False)
        return ordered

    def _date_candidates(
        self, endpoint: V2Endpoint, filter_doc: dict
    ) -> tuple[list[int] | None, tuple[str, ...]]:
        """Positions that may match the top-level date ranges (``$gte``/``$lt``/...), found in
        the table's range index of the first such field (epoch millis: no date string parsed,
        no pass over every row), and the filter keys whose condition these positions decide
        exactly (``exact_date_range``). Other date conditions narrow to a superset (bounds
        widened by 1 ms) that the full filter decides. (None, ()) when no date range narrows."""
        bounds = []
        decided = []
        for name, cond in filter_doc.items():
            spec = endpoint.field(name) if isinstance(name, str) else None
            if spec is None or spec.kind is not Kind.DATE or not isinstance(cond, dict):
                continue
            exact = exact_date_range(cond)
            if exact is not None and name not in _ELEMENT_FILTERS:
                bounds.append((_raw_date_field(endpoint, name), *exact))
                decided.append(name)
                continue
            low, high = -(2**63), 2**63
            try:
                for op, operand in cond.items():
                    if op in ("$gt", "$gte", "$eq"):
                        low = max(low, parse_instant(operand) - 1)
                    if op in ("$lt", "$lte", "$eq"):
                        high = min(high, parse_instant(operand) + 1)
            except (ClockError, AttributeError, TypeError):
                continue  # validated already; an odd operand just does not narrow
            if (low, high) != (-(2**63), 2**63):
                bounds.append((_raw_date_field(endpoint, name), low, high))
        if not bounds:
            return None, ()
        (field, low, high), *others = bounds
        table = self.dataset.table(endpoint.name)
        rows = table.rows
        positions = [
            position
            for position in table.positions_between(field, low, high)
            if all(
                (value := rows[position].get(other)) is not None and lo <= value <= hi
                for other, lo, hi in others
            )
        ]
        return positions, tuple(decided)

    @staticmethod
    def _sort_fields(endpoint: V2Endpoint, sort: list) -> tuple[list[str], list[bool], list[Any]]:
        fields = [s["field"] for s in sort]
        descending = [s.get("order", "ASC") == "DESC" for s in sort]
        if endpoint.unique_key not in fields:
            fields.append(endpoint.unique_key)
            descending.append(False)
        kinds = [endpoint.field(f).kind for f in fields]  # type: ignore[union-attr]
        return fields, descending, kinds

    def _window(self, endpoint: V2Endpoint, sort: list, page: dict, ordered: _Ordered) -> slice:
        fields, descending, kinds = self._sort_fields(endpoint, sort)
        limit = page["limit"]
        for name in ("after", "before"):
            if name not in page:
                continue
            cursor = [_sort_key(v, k) for v, k in zip(page[name], kinds, strict=False)]
            if len(cursor) != len(fields):
                raise _BadRequest(f"page.{name}: the cursor does not fit the sort of this request")
            probe = _comparable(descending)(cursor)
            if name == "after":
                start = bisect_right(ordered.keys, probe)
                return slice(start, start + limit)
            end = bisect_left(ordered.keys, probe)
            return slice(max(0, end - limit), end)
        return slice(page["from"], page["from"] + limit)

    def search(
        self, endpoint: V2Endpoint, body: bytes, path: str = "", *, full_values: bool = False
    ) -> Response:
        filter_doc, sort, page = self._parse(endpoint, body)
        ordered = self._ordered(endpoint, filter_doc, sort)
        items = ordered.records[self._window(endpoint, sort, page, ordered)]
        if full_values:
            items = [self._untruncated(endpoint, item) for item in items]
        fields = self._sort_fields(endpoint, sort)[0]
        cursors: dict[str, Any] = {}
        if items:
            if "isLatestVersion" not in filter_doc:  # the specs: no startCursor then
                cursors["startCursor"] = encode_cursor(cursor_values(items[0], fields, endpoint))
            cursors["endCursor"] = encode_cursor(cursor_values(items[-1], fields, endpoint))
        if self.view.explicit_nulls:
            cursors = {"startCursor": None, "endCursor": None} | cursors
        payload = {
            "items": items,
            "page": {
                "totalItems": min(ordered.total, TOTAL_CAP),
                "hasMoreTotalItems": ordered.total > TOTAL_CAP,
                **cursors,
            },
        }
        self.stats.search(endpoint.name, len(items))
        return Response(200, orjson.dumps(payload), "application/json")

    def _untruncated(self, endpoint: V2Endpoint, item: dict[str, Any]) -> dict[str, Any]:
        """``?truncateValues=false``: a cut value comes whole, as GET by key returns it."""
        flag = endpoint.truncated_flag
        if flag is None or not item.get(flag):
            return item
        position = self.dataset.table(endpoint.name).index[int(item[endpoint.unique_key])]
        full = self.view.full_record(endpoint.name, position)
        return {name: full.get(name, value) for name, value in item.items()}

    # -- get ----------------------------------------------------------------------------

    def get(self, endpoint: V2Endpoint, ident: str, xml: bool, path: str = "") -> Response:
        name = endpoint.name
        key: int | str = ident
        if endpoint.field(endpoint.unique_key).kind is Kind.KEY:  # type: ignore[union-attr]
            if not re.fullmatch(r"-?\d{1,19}", ident):
                return v2_problem(400, "INVALID_ARGUMENT", f"{ident[:40]!r} is not a key", path)
            key = int(ident)
        table = self.dataset.table(name)
        position = table.index.get(key)
        if position is None:
            detail = f"{name} with key {ident[:40]} not found"
            return v2_problem(404, "NOT_FOUND", detail, path)
        self.stats.get(name)
        if xml:
            row = table.rows[position]
            if name == "decision-definitions":  # a decision's XML is its DRD's
                text = self.dataset.xml("decision-requirements", row["decisionRequirementsKey"])
            else:
                text = self.dataset.xml(name, int(key))
            if not text:
                return Response(204, b"", None)
            return Response(200, text.encode("utf-8"), "text/xml;charset=UTF-8")
        return Response(200, orjson.dumps(self.view.full_record(name, position)))


_RANGE_OPERATORS = ("$gt", "$gte", "$lt", "$lte", "$eq")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def exact_date_range(cond: Mapping[str, Any]) -> tuple[int, int] | None:
    """The epoch-ms values ``[low, high]`` a record date (whole milliseconds, as the simulator
    stores and renders them) must lie in to satisfy ``cond`` exactly as ``matches_v2_filter``
    compares (operands read by the same ``parse_rfc3339``, to the microsecond); an empty range
    (low > high) when nothing can. None when ``cond`` has another operator or an operand that
    is not an RFC 3339 string (or no operator at all): the full filter decides those."""
    if not cond:
        return None
    low, high = -(2**63), 2**63
    for op, operand in cond.items():
        if op not in _RANGE_OPERATORS or not isinstance(operand, str):
            return None
        try:
            micros = (parse_rfc3339(operand) - _EPOCH) // _MICROSECOND
        except ValueError:
            return None
        below, above = micros // 1000, -(-micros // 1000)  # floor and ceiling in ms
        if op == "$gte":
            low = max(low, above)
        elif op == "$gt":
            low = max(low, below + 1)
        elif op == "$lte":
            high = min(high, below)
        elif op == "$lt":
            high = min(high, above - 1)
        elif micros % 1000:  # $eq an instant between two milliseconds: no record date
            return 0, -1
        else:
            low, high = max(low, below), min(high, below)
    return low, high


def _filter_attribute(endpoint: V2Endpoint, name: str) -> str:
    """The record attribute ``matches_v2_filter`` reads for filter key ``name``."""
    spec = endpoint.filter_field(name)
    return (spec.record_field if spec is not None else None) or name


def _raw_date_field(endpoint: V2Endpoint, name: str) -> str:
    """The API-neutral row's name of a v2 date field (v1's name; jobs' 8.9 times are hidden)."""
    if endpoint.name == "jobs" and name in ("creationTime", "lastUpdateTime"):
        return f"_{name}"
    spec = endpoint.field(name)
    return getattr(spec, "v1_name", None) or name


def _full_values(endpoint: V2Endpoint, query: str) -> bool:
    """The search asks for whole variable values (``?truncateValues=false``, 8.8 late builds
    and 8.9: orchestration-v2.md 4.5); other parameters are ignored, as Spring does."""
    param = endpoint.truncate_values_param
    if param is None or not query:
        return False
    return parse_qs(query).get(param, [""])[-1].lower() == "false"
