"""Paging loops: a small stateful paginator per export, fresh for every run.

The shape follows dlt's ``BasePaginator``: the runner asks for ``first_request()``, posts it,
hands the parsed response to ``update_state()`` (which validates the page against the paging
contract and returns the items to emit), and asks ``has_next`` / ``next_request()`` until done.

v1 (``SearchAfterPaginator``) pages ``POST /v1/<resource>/search`` with ``searchAfter``:

* the server appends the resource's unique key (``key``, or ``id`` for decision instances) to
  every sort as a tie-breaker, so ``sortValues`` has ``len(sort) + 1`` entries;
* ``sortValues`` of the last item is echoed back verbatim as the next ``searchAfter`` (the list
  parsed by orjson keeps JSON types and all 64 bits of integer keys);
* a page shorter than the requested ``size`` (or empty) is the last one; ``total`` is capped at
  10,000 by the search engine and only feeds progress reporting, never the loop;
* a repeated cursor, a missing cursor on a full page, non-object items or a page larger than
  requested are contract violations -> ``ProtocolError`` rather than a silent loop or gap.

``update_state_raw`` is the same for a page whose items the sink decodes itself (only the
cursor is read from the page's tail, ``exporter.rawpage``): paging then ends at an empty page.

v2 (``page: {limit, after}`` with an opaque ``endCursor``) is ``paging_v2.CursorPaginator``,
chosen by ``make_paginator`` from the endpoint's API.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson

from exporter.endpoints import Endpoint
from exporter.errors import ProtocolError
from exporter.rawpage import UNSURE, RawPage
from exporter.spec import ExportSpec

# Elasticsearch's default track_total_hits: a total of exactly this value means "this many or more".
TOTAL_CAP = 10_000
MAX_PAGE_SIZE = 1000

Cursor = list[Any]


def format_total(total: int | None) -> str:
    """Human form of a server total: ``10000+`` when the engine capped the count."""
    if total is None:
        return "?"
    return f"{total}+" if total >= TOTAL_CAP else str(total)


class Paginator(Protocol):
    """One export's paging state. Not thread-safe: one producer thread drives it."""

    @property
    def has_next(self) -> bool: ...

    @property
    def cursor(self) -> Any:
        """Where to continue after the last page handed out (None before the first page)."""
        ...

    @property
    def total(self) -> int | None:
        """The server's total from the first page (capped, for progress only)."""
        ...

    @property
    def emitted(self) -> int: ...

    def first_request(self) -> dict[str, Any]: ...

    def next_request(self) -> dict[str, Any]: ...

    def update_state(self, response: Any) -> list[dict[str, Any]]: ...


def _cursor_identity(values: Sequence[Any]) -> tuple[tuple[str, Any], ...]:
    # Type-qualified so that 1, 1.0 and True are different cursors, as they are on the wire.
    return tuple((type(v).__name__, repr(v)) for v in values)


class PagingState(ABC):
    """What every paginator tracks, whatever its cursor: records emitted against
    ``max_records``, pages, the server's first total, the size asked for last, and the end.

    ``already_emitted`` is how many records an earlier run wrote (resume), so ``max_records``
    stays a cap on the whole snapshot.
    """

    def __init__(self, export: ExportSpec, already_emitted: int) -> None:
        self.export = export
        self._emitted = already_emitted
        self._pages = 0
        self._total: int | None = None
        self._last_size: int | None = None
        self._done = self._remaining() == 0

    @property
    def has_next(self) -> bool:
        return not self._done

    @property
    def total(self) -> int | None:
        return self._total

    @property
    def emitted(self) -> int:
        return self._emitted

    @property
    def pages(self) -> int:
        return self._pages

    def _remaining(self) -> int | None:
        cap = self.export.max_records
        return None if cap is None else max(cap - self._emitted, 0)

    def _next_size(self) -> int:
        """The page size to ask for next: ``page_size``, or exactly what the cap still allows
        (rather than over-fetching a whole page). Remembered for ``_take_size``."""
        if self._done:
            raise RuntimeError("no next page: the export is complete")
        size = self.export.page_size
        remaining = self._remaining()
        if remaining is not None:
            size = min(size, remaining)
        self._last_size = size
        return size

    def _take_size(self) -> int:
        """The size the response being handled was asked for (one response per request)."""
        if self._last_size is None:
            raise RuntimeError("update_state() called before a request was built")
        size, self._last_size = self._last_size, None
        return size

    def _page_done(self, items: int, *, last: bool) -> None:
        self._pages += 1
        self._emitted += items
        if last or self._remaining() == 0:
            self._done = True

    def first_request(self) -> dict[str, Any]:
        """The request for the first page (after the resume cursor, if any)."""
        return self.next_request()

    @abstractmethod
    def next_request(self) -> dict[str, Any]:
        """The next search body (each API shapes its own)."""


class SearchAfterPaginator(PagingState):
    """v1 ``searchAfter`` paging of one export.

    ``start_cursor`` resumes after a page written by an earlier run; ``already_emitted`` is how
    many records that run wrote, so ``max_records`` stays a cap on the whole snapshot.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        export: ExportSpec,
        *,
        start_cursor: Sequence[Any] | None = None,
        already_emitted: int = 0,
    ) -> None:
        if not 1 <= export.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {export.page_size}")
        super().__init__(export, already_emitted)
        self.endpoint = endpoint
        self._sort = [s.to_api() for s in export.sort]
        # The server appends the unique key to whatever we sort by.
        self.cursor_length = len(self._sort) + 1
        self._filter = dict(export.filter)
        self._cursor: Cursor | None = None
        self._seen: set[tuple[tuple[str, Any], ...]] = set()
        if start_cursor is not None:
            start = list(start_cursor)
            self._check_cursor_shape(start, where="resume cursor")
            self._cursor = start
            self._seen.add(_cursor_identity(start))

    # -- state --------------------------------------------------------------------------

    @property
    def cursor(self) -> Cursor | None:
        return None if self._cursor is None else list(self._cursor)

    # -- requests -----------------------------------------------------------------------

    def base_body(self, size: int) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self._filter:
            body["filter"] = dict(self._filter)
        body["size"] = size
        if self._sort:
            body["sort"] = [dict(s) for s in self._sort]
        return body

    def next_request(self) -> dict[str, Any]:
        body = self.base_body(self._next_size())
        if self._cursor is not None:
            body["searchAfter"] = list(self._cursor)
        return body

    # -- responses ----------------------------------------------------------------------

    def _check_cursor_shape(self, values: Any, *, where: str) -> None:
        if not isinstance(values, list) or len(values) != self.cursor_length:
            got = len(values) if isinstance(values, list) else type(values).__name__
            raise ProtocolError(
                f"{self.export.name}: {where} should have {self.cursor_length} values "
                f"(sort fields + the unique key {self.endpoint.unique_key!r}), got {got}"
            )

    def update_state(self, response: Any) -> list[dict[str, Any]]:
        """Validate one search response and return its items (never more than the cap)."""
        size = self._take_size()
        name = self.export.name
        items = checked_items(name, self._pages + 1, response, size)
        if self._total is None:
            total = response.get("total")
            if isinstance(total, int) and not isinstance(total, bool):
                self._total = total

        sort_values = response.get("sortValues")
        full_page = len(items) == size
        if items:
            if sort_values in (None, []):
                if full_page:
                    raise ProtocolError(
                        f"{name}: full page {self._pages + 1} without sortValues; "
                        "cannot continue paging"
                    )
            else:
                self._take_cursor(sort_values)

        self._page_done(len(items), last=not full_page or not items)
        return items

    def _take_cursor(self, sort_values: Any) -> None:
        self._check_cursor_shape(sort_values, where=f"sortValues of page {self._pages + 1}")
        identity = _cursor_identity(sort_values)
        if identity in self._seen:
            raise ProtocolError(
                f"{self.export.name}: the server repeated the cursor {sort_values!r} "
                f"(page {self._pages + 1}); stopping instead of looping"
            )
        self._seen.add(identity)
        self._cursor = list(sort_values)

    def update_state_raw(self, page: RawPage) -> list[dict[str, Any]] | None:
        """``update_state`` for a page whose items the sink decodes (``ApiClient.post_page``).

        With a readable tail only the cursor is taken (same checks as ``update_state``) and
        None is returned: the item count is unknown here, so paging goes on until a page the
        tail reader cannot vouch for (an empty page is small and parsed whole) ends it; the
        sink checks the items (``checked_items``) and that a short page is the last one.
        Otherwise the page was parsed whole and is handled exactly as ``update_state``.
        """
        if page.tail is None:
            return self.update_state(page.parsed)
        if self.export.max_records is not None:
            raise RuntimeError("raw paging cannot honour max_records (item count unknown)")
        if self._total is None:
            total = page.tail.total()
            if total is UNSURE:
                return self.update_state(orjson.loads(page.raw))
            self._total = total
        self._take_size()
        self._take_cursor(page.tail.cursor)
        self._page_done(0, last=False)
        return None


def checked_items(name: str, page: int, response: Any, size: int) -> list[dict[str, Any]]:
    """The ``items`` of a search response, after the paging contract's checks on them."""
    if not isinstance(response, Mapping):
        raise ProtocolError(
            f"{name}: search response is {type(response).__name__}, expected an object"
        )
    items = response.get("items")
    if not isinstance(items, list):
        raise ProtocolError(f"{name}: search response has no 'items' list")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ProtocolError(
                f"{name}: page {page} item {index} is {type(item).__name__}, expected an object"
            )
    check_count(name, page, len(items), size)
    return items


def check_count(name: str, page: int, count: int, size: int) -> None:
    if count > size:
        raise ProtocolError(f"{name}: server returned {count} items for size {size} (page {page})")


def make_paginator(
    endpoint: Endpoint,
    export: ExportSpec,
    *,
    start_cursor: Any = None,
    already_emitted: int = 0,
) -> Paginator:
    """The paginator for an endpoint's API version: v1 searchAfter, v2 page cursor."""
    if endpoint.api == "v2":
        from exporter.endpoints_v2 import V2Endpoint
        from exporter.paging_v2 import CursorPaginator

        assert isinstance(endpoint, V2Endpoint)
        return CursorPaginator(
            endpoint, export, start_cursor=start_cursor, already_emitted=already_emitted
        )
    if endpoint.api == "v1":
        return SearchAfterPaginator(
            endpoint, export, start_cursor=start_cursor, already_emitted=already_emitted
        )
    raise ValueError(f"no paginator for API {endpoint.api!r}")
