"""The v2 REST routes: search with page cursors, get by key, definition XML, topology.

Semantics (``orchestration-v2.md`` sections 2-3 and 7): a search body is optional; unknown
top-level keys, bad filters (validated with the 8.9 operator set), bad sorts, a bad ``page`` or a
cursor that is not base64 of a JSON array are 400 problem details ``{type, title, status,
detail, instance}``. Results are sorted by the requested sort values and then by the unique key
(the server's tie-breaker, also where the key itself may not be named in ``sort``); nulls sort
last. ``endCursor`` is base64 of the last item's sort values (null on an empty page);
``totalItems`` is capped at 10,000 with ``hasMoreTotalItems``.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import orjson

from exporter.endpoints import Kind
from exporter.endpoints_v2 import V2_ENDPOINTS, V2Endpoint
from exporter.simulator.data import Dataset
from exporter.simulator.responses import Response
from exporter.simulator.stats import Stats
from exporter.simulator.v2 import V2View
from exporter.v2_filters import (
    CursorError,
    cursor_values,
    decode_cursor,
    encode_cursor,
    matches_v2_filter,
    validate_v2_filter,
    validate_v2_sort,
)

TOTAL_CAP = 10_000
GATEWAY_VERSION = "8.9.0"
_BY_PATH = {e.path: e for e in V2_ENDPOINTS.values()}
_ROUTE = re.compile(r"^(/v2/[a-z-]+)(?:/([^/]+))?(?:/([a-z-]+))?$")
_TOP_KEYS = ("filter", "sort", "page")


def v2_problem(status: int, title: str, detail: str) -> Response:
    """RFC 9457 problem details, as the Orchestration Cluster API sends them."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": f"/v2/{uuid.uuid4()}",
    }
    return Response(status, orjson.dumps(body), "application/problem+json")


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


class V2Api:
    def __init__(self, dataset: Dataset, view: V2View, stats: Stats) -> None:
        self.dataset = dataset
        self.view = view
        self.stats = stats

    def handle(self, method: str, path: str, body: bytes) -> Response:
        if path == "/v2/topology" and method == "GET":
            data = {"gatewayVersion": GATEWAY_VERSION, "brokers": [], "clusterSize": 1}
            return Response(200, orjson.dumps(data), "application/json")
        match = _ROUTE.match(path)
        endpoint = _BY_PATH.get(match.group(1)) if match else None
        if match is None or endpoint is None:
            return v2_problem(404, "NOT_FOUND", f"No endpoint {method} {path}")
        ident, sub = match.group(2), match.group(3)
        if ident == "search" and sub is None:
            if method != "POST":
                return v2_problem(405, "METHOD_NOT_ALLOWED", f"{method} is not supported")
            try:
                return self.search(endpoint, body)
            except _BadRequest as exc:
                return v2_problem(400, "INVALID_ARGUMENT", exc.detail)
        readable = sub is None or (sub == "xml" and endpoint.has_xml)
        if ident is not None and method == "GET" and endpoint.has_get and readable:
            return self.get(endpoint, unquote(ident), sub == "xml")
        if ident is not None and method == "GET":
            return v2_problem(404, "NOT_FOUND", f"No endpoint {method} {path}")
        return v2_problem(405, "METHOD_NOT_ALLOWED", f"{method} is not supported on {path}")

    # -- search -------------------------------------------------------------------------

    def _parse(self, endpoint: V2Endpoint, body: bytes) -> tuple[dict, list, int, str | None]:
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
        problems = validate_v2_filter(filter_doc, endpoint, "filter", server_version="8.9")
        sort = request.get("sort") or []
        if not isinstance(sort, list) or not all(isinstance(s, dict) for s in sort):
            raise _BadRequest("sort must be an array of {field, order}")
        problems += validate_v2_sort(sort, endpoint, "sort", server_version="8.9")
        if problems:
            raise _BadRequest("; ".join(str(p) for p in problems))
        page = request.get("page") or {}
        if not isinstance(page, dict) or set(page) - {"limit", "after"}:
            raise _BadRequest("page takes limit and after (cursor forward paging)")
        limit = page.get("limit", endpoint.default_page_limit)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise _BadRequest(f"page.limit must be 1..10000, got {limit!r}")
        after = page.get("after")
        if after is not None:
            try:
                decode_cursor(after)
            except CursorError as exc:
                raise _BadRequest(str(exc)) from None
        return filter_doc, sort, limit, after

    def search(self, endpoint: V2Endpoint, body: bytes) -> Response:
        filter_doc, sort, limit, after = self._parse(endpoint, body)
        fields = [s["field"] for s in sort]
        descending = [s.get("order", "ASC") == "DESC" for s in sort]
        if endpoint.unique_key not in fields:
            fields.append(endpoint.unique_key)
            descending.append(False)
        kinds = [endpoint.field(f).kind for f in fields]  # type: ignore[union-attr]
        records = self.view.search_records(endpoint.name)
        lookup = self.view.variables
        matched = [
            r for r in records if matches_v2_filter(filter_doc, r, endpoint, variables=lookup)
        ]

        def values(record: dict[str, Any]) -> list[Any]:
            return [_sort_key(record.get(f), k) for f, k in zip(fields, kinds, strict=True)]

        keyed = sorted(
            ((values(r), r) for r in matched),
            key=functools.cmp_to_key(lambda a, b: _compare(a[0], b[0], descending)),
        )
        start = 0
        if after is not None:
            cursor = [_sort_key(v, k) for v, k in zip(decode_cursor(after), kinds, strict=False)]
            if len(cursor) != len(fields):
                raise _BadRequest("the cursor does not match the sort of this request")
            while start < len(keyed) and _compare(keyed[start][0], cursor, descending) <= 0:
                start += 1
        page = [r for _, r in keyed[start : start + limit]]
        end_cursor = encode_cursor(cursor_values(page[-1], fields, endpoint)) if page else None
        start_cursor = encode_cursor(cursor_values(page[0], fields, endpoint)) if page else None
        total = len(matched)
        payload = {
            "items": page,
            "page": {
                "totalItems": min(total, TOTAL_CAP),
                "hasMoreTotalItems": total > TOTAL_CAP,
                "startCursor": start_cursor,
                "endCursor": end_cursor,
            },
        }
        self.stats.search(endpoint.name, len(page))
        return Response(200, orjson.dumps(payload), "application/json")

    # -- get ----------------------------------------------------------------------------

    def get(self, endpoint: V2Endpoint, ident: str, xml: bool) -> Response:
        name = endpoint.name
        key: int | str = ident
        if endpoint.field(endpoint.unique_key).kind is Kind.KEY:  # type: ignore[union-attr]
            if not re.fullmatch(r"-?\d{1,19}", ident):
                return v2_problem(400, "INVALID_ARGUMENT", f"{ident[:40]!r} is not a key")
            key = int(ident)
        table = self.dataset.table(name)
        position = table.index.get(key)
        if position is None:
            return v2_problem(404, "NOT_FOUND", f"{name} with key {ident[:40]} not found")
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
