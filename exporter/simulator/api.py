"""The v1 REST routes: search, get by key/id, definition XML."""

from __future__ import annotations

import re

import orjson

from exporter.api.types import Endpoint
from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.simulator.data import Dataset
from exporter.simulator.query import QueryError, SearchEngine, parse_query
from exporter.simulator.responses import Response, problem
from exporter.simulator.stats import Stats
from exporter.simulator.v1 import V1View

_BY_PATH = {e.path: e for e in V1_ENDPOINTS.values()}
_ROUTE = re.compile(r"^(/v1/[a-z-]+)(?:/([^/]+))?(?:/([a-z-]+))?$")


class V1Api:
    def __init__(self, dataset: Dataset, view: V1View, stats: Stats) -> None:
        self.dataset = dataset
        self.view = view
        self.stats = stats
        # A variable is ``truncated`` in search exactly when the view cuts its value.
        truncated = {"truncated": lambda row: len(row["value"]) > view.threshold}
        self.engines = {
            name: SearchEngine(
                endpoint, dataset.table(name), derived=truncated if name == "variables" else None
            )
            for name, endpoint in V1_ENDPOINTS.items()
        }

    def handle(self, method: str, path: str, body: bytes, query: str = "") -> Response:
        """``query`` (the URL's query string) is ignored: v1 searches take none."""
        match = _ROUTE.match(path)
        endpoint = _BY_PATH.get(match.group(1)) if match else None
        if match is None or endpoint is None:
            return problem(404, f"No endpoint {method} {path}", "Requested resource not found")
        ident, sub = match.group(2), match.group(3)
        try:
            if ident == "search" and sub is None:
                if method != "POST":
                    return problem(
                        405, f"Request method '{method}' is not supported", "Invalid request"
                    )
                return self.search(endpoint, body)
            if ident is not None and method == "GET" and sub in (None, "xml"):
                if sub == "xml" and not endpoint.has_xml:
                    return problem(
                        404, f"No endpoint {method} {path}", "Requested resource not found"
                    )
                return self.get(endpoint, ident, sub == "xml")
        except QueryError as exc:
            return problem(exc.status, exc.message, exc.type)
        return problem(405, f"Request method '{method}' is not supported", "Invalid request")

    def search(self, endpoint: Endpoint, body: bytes) -> Response:
        try:
            parsed = orjson.loads(body) if body.strip() else None  # the body is optional
        except orjson.JSONDecodeError as exc:
            return problem(400, f"JSON parse error: {exc}", "Invalid request")
        query = parse_query(endpoint, parsed)
        positions, sort_values, total = self.engines[endpoint.name].search(query)
        items = b",".join(self.view.encoded(endpoint.name, positions))
        payload = b"".join(
            (
                b'{"items":[',
                items,
                b'],"sortValues":',
                orjson.dumps(sort_values),
                b',"total":',
                str(total).encode(),
                b"}",
            )
        )
        self.stats.search(endpoint.name, len(positions))
        return Response(200, payload, "application/json")

    def get(self, endpoint: Endpoint, ident: str, xml: bool) -> Response:
        name = endpoint.name
        key: int | str
        if endpoint.unique_key == "id":
            key = ident
        else:
            if not re.fullmatch(r"-?\d{1,19}", ident):
                return problem(
                    400,
                    "Failed to convert value of type 'java.lang.String' to required type "
                    "'java.lang.Long'; "
                    f'For input string: "{ident[:40]}"',
                    "Invalid request",
                )
            key = int(ident)
        table = self.dataset.table(name)
        position = table.index.get(key)
        what = name.replace("-", " ").replace("drd", "decision requirements")
        if position is None:
            return problem(404, f"No {what} found for key {key}", "Requested resource not found")
        self.stats.get(name)
        if xml:
            text = self.dataset.xml(name, int(key)) or ""
            return Response(200, text.encode("utf-8"), "text/xml;charset=UTF-8")
        record = self.view.full_record(name, table.rows[position])
        return Response(200, orjson.dumps(record), "application/json")
