"""v2 cursor paging over loopback: the contract of ``paging_v2.CursorPaginator``.

A tiny scripted server answers each search with a prepared page, so the edge cases a real
server rarely shows (null cursor on a full page, empty-string cursor, a repeated cursor) are
exercised over real HTTP; the requests it received are checked too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from exporter.api import get_endpoint, make_paginator
from exporter.api.v2.paging import CursorPaginator
from exporter.errors import ProtocolError
from exporter.pipeline.fetch import iter_pages
from exporter.spec import ExportSpec, RetrySpec, SortSpec, SourceSpec
from exporter.transport.client import ApiClient


class Scripted(ThreadingHTTPServer):
    daemon_threads = True
    pages: list[dict[str, Any]]
    requests: list[dict[str, Any]]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Scripted

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.requests.append(orjson.loads(self.rfile.read(length)))
        page = self.server.pages.pop(0) if self.server.pages else {"items": [], "page": {}}
        body = orjson.dumps(page)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    server = Scripted(("127.0.0.1", 0), Handler)
    server.pages, server.requests = [], []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def items(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"jobKey": str(2**60 + i)} for i in range(start, start + n)]


def run(server: Scripted, export: ExportSpec) -> list[list[dict[str, Any]]]:
    source = SourceSpec(
        base_url=f"http://127.0.0.1:{server.server_address[1]}",
        api="v2",
        retry=RetrySpec(max_attempts=1),
    )
    endpoint = get_endpoint(export.endpoint, "v2")
    with ApiClient(source) as client:
        return [p.items for p in iter_pages(client, endpoint, make_paginator(endpoint, export))]


JOBS = ExportSpec(endpoint="jobs", name="jobs", page_size=3)


def test_cursor_is_echoed_and_a_short_page_ends_without_an_extra_request(
    scripted: Scripted,
) -> None:
    scripted.pages = [
        {"items": items(3), "page": {"totalItems": 5, "endCursor": "QQ=="}},
        {"items": items(2, 3), "page": {"totalItems": 5, "endCursor": "Qg=="}},
    ]
    pages = run(scripted, JOBS)
    assert [len(p) for p in pages] == [3, 2]
    first, second = scripted.requests
    assert first["page"] == {"limit": 3}  # never after: "" (nor after: null)
    assert second["page"] == {"limit": 3, "after": "QQ=="}
    assert first["sort"] == [{"field": "jobKey", "order": "ASC"}]  # the key as tie-breaker


@pytest.mark.parametrize("cursor", [None, ""], ids=["null", "empty"])
def test_a_null_or_empty_cursor_ends_the_export(scripted: Scripted, cursor: Any) -> None:
    scripted.pages = [{"items": items(3), "page": {"totalItems": 9, "endCursor": cursor}}]
    assert [len(p) for p in run(scripted, JOBS)] == [3]
    assert len(scripted.requests) == 1


def test_an_empty_page_ends_the_export(scripted: Scripted) -> None:
    scripted.pages = [
        {"items": items(3), "page": {"endCursor": "QQ=="}},
        {"items": [], "page": {"endCursor": None}},
    ]
    assert [len(p) for p in run(scripted, JOBS)] == [3, 0]


def test_a_repeated_cursor_is_a_protocol_error(scripted: Scripted) -> None:
    scripted.pages = [
        {"items": items(3), "page": {"endCursor": "QQ=="}},
        {"items": items(3, 3), "page": {"endCursor": "QQ=="}},
    ]
    with pytest.raises(ProtocolError, match="repeated the cursor"):
        run(scripted, JOBS)


def test_user_task_sort_never_names_the_key_and_total_is_reported() -> None:
    endpoint = get_endpoint("user-tasks", "v2")
    export = ExportSpec(endpoint="user-tasks", name="ut", sort=(SortSpec("creationDate"),))
    paginator = make_paginator(endpoint, export)
    assert isinstance(paginator, CursorPaginator)
    body = paginator.first_request()
    assert body["sort"] == [{"field": "creationDate", "order": "ASC"}]
    paginator.update_state({"items": [], "page": {"totalItems": 10000, "hasMoreTotalItems": True}})
    assert paginator.total == 10000 and paginator.more_than_total
    assert not paginator.has_next


def test_limit_follows_max_records_and_resume_cursor() -> None:
    endpoint = get_endpoint("jobs", "v2")
    export = ExportSpec(endpoint="jobs", name="jobs", page_size=5000, max_records=7)
    paginator = make_paginator(endpoint, export, start_cursor="WzFd", already_emitted=3)
    assert paginator.first_request()["page"] == {"limit": 4, "after": "WzFd"}
    with pytest.raises(ProtocolError, match="not a v2 cursor"):
        make_paginator(endpoint, export, start_cursor=[1, 2])
