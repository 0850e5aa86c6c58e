"""v1 paging: ``searchAfter`` with the last item's ``sortValues`` (shared parts: api/paging.py).

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
* every cursor must come strictly after the previous one in the export's sort order (each
  sort field in its direction, missing values last, then the unique key ascending): a cursor
  that repeats or moves backwards, a missing cursor on a full page, non-object items or a page
  larger than requested are contract violations -> ``ProtocolError`` rather than a silent loop,
  duplicates or a gap. Only the previous cursor is kept (constant memory);
* numbers must survive the trip exactly: integer keys and cursor values beyond int64 (orjson
  reads integers beyond 64 bits as floats) and a ``total`` outside 0..2^63-1 are refused, and
  a cursor longer than ``MAX_CURSOR_BYTES`` is refused rather than echoed on every request;
* when the server's ``total`` is exact, paging stops with a ``ProtocolError`` once the pages
  could hold twice that many records (plus ten pages of slack for records added meanwhile).

``update_state_raw`` is the same for a page whose items the sink decodes itself (only the
cursor is read from the page's tail, ``exporter.api.rawpage``): an upper bound on its item objects
decides whether it is short (the last one), as a parsed page's item count does; the sink
lets Arrow decode it only when it provably nests too little to crash it.

v2 (``page: {limit, after}`` with an opaque ``endCursor``) is ``api/v2/paging.CursorPaginator``;
each dialect builds its own paginator (``Dialect.paginator``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from exporter.api.paging import (
    TOTAL_CAP,
    PagingState,
    check_keys,
    checked_items,
    number_problem,
    shorten,
)
from exporter.api.rawpage import MAX_CURSOR_BYTES, UNSURE, RawPage
from exporter.api.types import Endpoint, Kind
from exporter.api.v1.checks import native_sort
from exporter.errors import ProtocolError
from exporter.spec import ExportSpec

MAX_PAGE_SIZE = 1000

Cursor = list[Any]

# Cursor positions whose values Elasticsearch sends as integers (dates as epoch millis).
_INTEGER_SORT_KINDS = (Kind.KEY, Kind.INT32, Kind.DATE)


def _compare(before: Any, after: Any, descending: bool) -> int | None:
    """-1 when ``after`` comes later in one sort position's order, 1 earlier, 0 equal; None
    when the two cannot be compared (a value of another JSON type). Missing values (null) sort
    last in both directions, as Elasticsearch does; numbers compare exactly, strings by code
    point (the byte order of UTF-8, which is how keywords sort)."""
    if before is None or after is None:
        return 0 if before is after else (-1 if before is not None else 1)
    numbers = (int, float)  # bool is an int: a boolean sort field's values are 0/1 or false/true
    if isinstance(before, numbers) and isinstance(after, numbers):
        pass
    elif not (isinstance(before, str) and isinstance(after, str)):
        return None
    order = (before > after) - (before < after)
    return -order if descending else order


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
        self._sort = [native_sort(endpoint, s.to_api()) for s in export.sort]  # canonical names
        # The server appends the unique key to whatever we sort by.
        self.cursor_length = len(self._sort) + 1
        self._filter = dict(export.filter)
        # Direction and registry kind of each cursor position; the unique key comes last, ASC.
        self._descending = [s["order"] == "DESC" for s in self._sort] + [False]
        kinds = {f.name: f.kind for f in endpoint.fields}
        self._kinds = [kinds.get(s["field"]) for s in self._sort] + [kinds.get(endpoint.unique_key)]
        self._key_fields = endpoint.fields_of_kind(Kind.KEY)
        self._cursor: Cursor | None = None
        if start_cursor is not None:
            start = list(start_cursor)
            self._check_cursor_shape(start, where="resume cursor")
            self._cursor = start

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
        check_keys(name, self._pages + 1, items, self._key_fields, self.endpoint.unique_key)
        total = response.get("total")
        self._take_total(self._pages + 1, total, exact=isinstance(total, int) and total < TOTAL_CAP)

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
        where = f"sortValues of page {self._pages + 1}"
        self._check_cursor_shape(sort_values, where=where)
        self._check_cursor_values(sort_values, where)
        if self._cursor is not None:
            self._check_forward(self._cursor, sort_values)
        self._cursor = list(sort_values)

    def _check_cursor_values(self, values: list[Any], where: str) -> None:
        name = self.export.name
        size = len(orjson.dumps(values))
        if size > MAX_CURSOR_BYTES:
            raise ProtocolError(
                f"{name}: {where} is {size} bytes long; a cursor may have at most "
                f"{MAX_CURSOR_BYTES} bytes (it is sent back with every request)"
            )
        for index, (value, kind) in enumerate(zip(values, self._kinds, strict=True)):
            problem = number_problem(value)
            if problem is None and kind in _INTEGER_SORT_KINDS and isinstance(value, float):
                problem = f"the number {value!r}"
            if problem is not None:
                raise ProtocolError(
                    f"{name}: {where}[{index}] is {problem}; it cannot be sent back exactly"
                )

    def _check_forward(self, previous: Cursor, current: list[Any]) -> None:
        """``current`` must come strictly after ``previous`` in the export's sort order."""
        name = self.export.name
        page = self._pages + 1
        for index, (before, after, descending) in enumerate(
            zip(previous, current, self._descending, strict=True)
        ):
            order = _compare(before, after, descending)
            if order is None:
                raise ProtocolError(
                    f"{name}: sortValues[{index}] of page {page} is a "
                    f"{type(after).__name__} where the previous cursor had a "
                    f"{type(before).__name__} (cursors {shorten(previous)} -> "
                    f"{shorten(current)})"
                )
            if order < 0:
                return
            if order > 0:
                raise ProtocolError(
                    f"{name}: the cursor of page {page} moves backwards in the sort order: "
                    f"{shorten(current)} comes before the previous {shorten(previous)} "
                    f"(sortValues[{index}]); expected each page to continue after the last; "
                    "stopping instead of writing duplicates"
                )
        raise ProtocolError(
            f"{name}: the server repeated the cursor {shorten(current)} (page {page}); "
            "expected each page to continue after the last; stopping instead of looping"
        )

    def update_state_raw(self, page: RawPage) -> list[dict[str, Any]] | None:
        """``update_state`` for a page whose items the sink decodes (``ApiClient.post_page``).

        With a readable tail only the cursor is taken (same checks as ``update_state``) and
        None is returned: the item count is unknown here, so paging goes on until a page the
        tail reader cannot vouch for (an empty page is small and parsed whole) ends it; the
        sink checks the items (``checked_items``) and that a short page is the last one.
        Otherwise the page was parsed whole and is handled exactly as ``update_state``.
        """
        tail = page.tail_of("sortValues")
        if tail is None:
            return self.update_state(self.parse(page))
        if self.export.max_records is not None:
            raise RuntimeError("raw paging cannot honour max_records (item count unknown)")
        number = self._pages + 1
        if self._total is None:
            total = tail.total()
            if total is UNSURE:
                return self.update_state(self.parse(page))
            self._take_total(number, total, exact=total is not None and total < TOTAL_CAP)
        size = self._take_size()
        self._take_cursor(tail.cursor)
        # At most this many items: fewer than asked for is a short page, the last one.
        self._page_done(0, last=tail.max_items() < size)
        return None
