"""v2 cursor paging: ``page: {limit, after}`` with the opaque ``endCursor`` echoed back.

Same ``Paginator`` protocol as v1's ``SearchAfterPaginator`` (``paging.py``), so the runner's
loop, prefetching, checkpoints and resume do not care which API they page. The contract
(``orchestration-v2.md`` sections 2.4, 2.5 and 3):

* the first request has no ``after`` (never ``after: ""``); every next one sends the previous
  page's ``endCursor`` verbatim (an opaque base64 string; the resume cursor is that string);
* ``limit`` is the export's ``page_size`` (at most the server's maximum, 10,000), lowered to
  what ``max_records`` still allows;
* the end is a short or empty page, or a null/missing/empty ``endCursor``; a repeated
  ``endCursor`` is a contract violation (``ProtocolError``), never a loop. The cursor is opaque
  (no order to check), so loops are found in constant memory: the hashes of the last
  ``RECENT_CURSORS`` cursors (a cycle of up to that many pages), a bound from an exact
  ``totalItems`` (``PagingState``) and a cap on a cursor's length (``MAX_CURSOR_BYTES``);
* the unique key is appended to the sort as tie-breaker where the resource allows sorting by
  it (not user tasks: the server tie-breaks on it anyway);
* ``page.totalItems`` (capped at 10,000 on Elasticsearch, ``hasMoreTotalItems`` then true)
  feeds progress only.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Mapping
from typing import Any

from exporter.api.paging import PagingState, check_keys, checked_items, shorten
from exporter.api.rawpage import MAX_CURSOR_BYTES, RawPage
from exporter.api.types import Kind
from exporter.api.v2.filters import to_wire_filter
from exporter.api.v2.registry import V2Endpoint
from exporter.errors import ProtocolError
from exporter.spec import ExportSpec

# A cycle of up to this many pages is recognised by the cursors' hashes.
RECENT_CURSORS = 16


def _fingerprint(cursor: str) -> bytes:
    return hashlib.blake2b(cursor.encode(), digest_size=16).digest()


def v2_sort(endpoint: V2Endpoint, export: ExportSpec) -> list[dict[str, str]]:
    """The sort sent to the server: the export's, then the unique key where it is sortable."""
    sort = [s.to_api() for s in export.sort]
    if endpoint.key_sortable and all(s["field"] != endpoint.unique_key for s in sort):
        sort.append({"field": endpoint.unique_key, "order": "ASC"})
    return sort


class CursorPaginator(PagingState):
    """v2 ``page.after`` paging of one export (see the module docstring)."""

    def __init__(
        self,
        endpoint: V2Endpoint,
        export: ExportSpec,
        *,
        start_cursor: str | None = None,
        already_emitted: int = 0,
    ) -> None:
        if not 1 <= export.page_size <= endpoint.max_page_limit:
            raise ValueError(
                f"page_size must be 1..{endpoint.max_page_limit} on v2, got {export.page_size}"
            )
        if start_cursor is not None and (not isinstance(start_cursor, str) or not start_cursor):
            raise ProtocolError(
                f"{export.name}: the checkpoint's cursor is not a v2 cursor "
                f"({type(start_cursor).__name__}); was it written by a v1 export?"
            )
        super().__init__(export, already_emitted)
        self.endpoint = endpoint
        self._filter = to_wire_filter(export.filter, endpoint)
        self._sort = v2_sort(endpoint, export)
        self._cursor: str | None = start_cursor
        # Whole variable values in the search itself (8.8 late builds, 8.9), so hydration has
        # nothing left to look up; a server without the parameter ignores it and flags cut
        # values as before, which hydration still completes.
        param = endpoint.truncate_values_param
        self._search_path = endpoint.search_path
        if param is not None and export.hydrate:
            self._search_path += f"?{param}=false"
        self._recent: deque[bytes] = deque(maxlen=RECENT_CURSORS)
        if start_cursor:
            self._recent.append(_fingerprint(start_cursor))
        self._key_fields = endpoint.fields_of_kind(Kind.KEY)
        self.more_than_total = False

    @property
    def search_path(self) -> str:
        return self._search_path

    @property
    def cursor(self) -> str | None:
        return self._cursor

    def base_body(self, limit: int) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self._filter:
            body["filter"] = dict(self._filter)
        body["sort"] = [dict(s) for s in self._sort]
        body["page"] = {"limit": limit}
        return body

    def next_request(self) -> dict[str, Any]:
        body = self.base_body(self._next_size())
        if self._cursor:  # never ``after: ""``
            body["page"]["after"] = self._cursor
        return body

    def update_state(self, response: Any) -> list[dict[str, Any]]:
        limit = self._take_size()
        name = self.export.name
        number = self._pages + 1
        items = checked_items(name, number, response, limit)
        check_keys(name, number, items, self._key_fields, self.endpoint.unique_key)
        page = response.get("page")
        page = page if isinstance(page, Mapping) else {}
        if self._total is None:
            self.more_than_total = page.get("hasMoreTotalItems") is True
            self._take_total(number, page.get("totalItems"), exact=not self.more_than_total)
        end_cursor = page.get("endCursor")
        if end_cursor is not None and not isinstance(end_cursor, str):
            raise ProtocolError(
                f"{name}: page {number} endCursor is {type(end_cursor).__name__}, expected a string"
            )
        has_cursor = bool(end_cursor) and bool(items)
        if has_cursor:
            assert isinstance(end_cursor, str)
            self._take_cursor(end_cursor, number)
        self._page_done(len(items), last=len(items) < limit or not items or not has_cursor)
        return items

    def _take_cursor(self, end_cursor: str, number: int) -> None:
        name = self.export.name
        if len(end_cursor) > MAX_CURSOR_BYTES:
            raise ProtocolError(
                f"{name}: page {number} endCursor is {len(end_cursor)} characters long; a "
                f"cursor may have at most {MAX_CURSOR_BYTES} (it is sent back with every request)"
            )
        fingerprint = _fingerprint(end_cursor)
        if fingerprint in self._recent:
            back = len(self._recent) - list(self._recent).index(fingerprint)
            raise ProtocolError(
                f"{name}: the server repeated the cursor {shorten(end_cursor, 60)} (page "
                f"{number}, the same as {back} page(s) before); expected a new cursor per page; "
                "stopping instead of looping"
            )
        self._recent.append(fingerprint)
        self._cursor = end_cursor

    def update_state_raw(self, page: RawPage) -> list[dict[str, Any]] | None:
        """``update_state`` for a page whose items the sink decodes (``ApiClient.post_page``).

        With an ``endCursor`` read from the tail, only the cursor is taken (same length and
        repetition checks) and None is returned; the sink decodes the items, checks them and
        that ``endCursor`` is the page's ``page.endCursor``, and that a short page is the last
        one (an upper bound on its item objects decides here whether it is short). The first
        page is parsed whole (its ``page`` object gives the total and whether it is exact), as
        is any page whose tail is not readable (no cursor, null or empty: the last page).
        """
        tail = page.tail_of("endCursor")
        if tail is None or self._pages == 0:
            return self.update_state(self.parse(page))
        if self.export.max_records is not None:
            raise RuntimeError("raw paging cannot honour max_records (item count unknown)")
        limit = self._take_size()
        self._take_cursor(tail.cursor, self._pages + 1)
        self._page_done(0, last=tail.max_items() < limit)
        return None
