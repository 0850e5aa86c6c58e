"""What every paginator shares, whatever its API: the ``Paginator`` protocol the pipeline's
fetch stage drives, the ``PagingState`` base (records against ``max_records``, pages, the first
total, the end, the loop bound from an exact total) and the paging-contract checks on a page's
items (objects only, no more than asked for, integer keys within int64).

The shape follows dlt's ``BasePaginator``: the fetch stage asks for ``first_request()``, posts
it, hands the page to ``update_state()`` / ``update_state_raw()`` (which validate it against the
paging contract and return the items to emit), and asks ``has_next`` / ``next_request()`` until
done. Each dialect (``api/v1/paging.py``, ``api/v2/paging.py``) shapes its own cursor.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from exporter.api.rawpage import RawPage, UnusablePage
from exporter.api.types import Endpoint
from exporter.errors import ProtocolError
from exporter.spec import ExportSpec

# Elasticsearch's default track_total_hits: a total of exactly this value means "this many or more".
TOTAL_CAP = 10_000

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# A loop on a server whose total is exact: it may send this many pages beyond 2 x total.
LOOP_SLACK_PAGES = 10


def shorten(value: Any, limit: int = 80) -> str:
    """``repr`` of a cursor for a message, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 15]}...({len(text)} chars)"


def number_problem(value: Any) -> str | None:
    """What is wrong with a value that must be an exact integer within int64, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        return (
            f"the number {value!r}, not an integer within int64 (an integer beyond 64 bits "
            "cannot be kept exactly: JSON parsers read it as a float)"
        )
    if not INT64_MIN <= value <= INT64_MAX:
        return f"the integer {shorten(value, 40)}, beyond int64"
    return None


def checked_total(name: str, page: int, total: Any) -> int | None:
    """The server's total when it is one (a count within 0..2^63-1), None when absent."""
    if total is None:
        return None
    if isinstance(total, bool) or not isinstance(total, int) or not 0 <= total <= INT64_MAX:
        got = number_problem(total) or f"a {type(total).__name__}"
        raise ProtocolError(
            f"{name}: page {page} reports a total of {got}; expected a count of records "
            f"within 0..{INT64_MAX}"
        )
    return total


def format_total(total: int | None) -> str:
    """Human form of a server total: ``10000+`` when the engine capped the count."""
    if total is None:
        return "?"
    return f"{total}+" if total >= TOTAL_CAP else str(total)


class Paginator(Protocol):
    """One export's paging state. Not thread-safe: one fetching thread drives it (except
    ``settle_count``, the writing thread's)."""

    @property
    def has_next(self) -> bool: ...

    @property
    def search_path(self) -> str:
        """Where the searches go: the endpoint's search path, with the query parameters the
        export asks for (v2 variables: whole values when the export hydrates)."""
        ...

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

    def update_state_raw(self, page: RawPage) -> list[dict[str, Any]] | None:
        """``update_state`` for an unparsed page: None when only its cursor was read."""
        ...

    def parse(self, page: RawPage) -> Any: ...

    def settle_count(self, number: int, count: int, asked: int | None) -> bool: ...

    @property
    def asked(self) -> int:
        """The page size the last handled response was asked for (unparsed pages: the sink
        checks their count against it)."""
        ...


class PagingState(ABC):
    """What every paginator tracks, whatever its cursor: records emitted against
    ``max_records``, pages, the server's first total, the size asked for last, and the end.

    ``already_emitted`` is how many records an earlier run wrote (resume), so ``max_records``
    stays a cap on the whole snapshot.
    """

    endpoint: Endpoint

    def __init__(self, export: ExportSpec, already_emitted: int) -> None:
        self.export = export
        self._emitted = already_emitted
        self._pages = 0
        self._total: int | None = None
        self._last_size: int | None = None
        self._asked = 0
        self._done = self._remaining() == 0
        self._max_pages: int | None = None  # from an exact total: beyond it, a loop
        # settle_count: the number of a short unparsed page (the writing thread's state).
        self._short_page: int | None = None

    @property
    def search_path(self) -> str:
        return self.endpoint.search_path

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
        self._asked = size
        return size

    @property
    def asked(self) -> int:
        return self._asked

    def _take_total(self, page: int, total: Any, *, exact: bool) -> None:
        """Remember the first page's total; an exact one bounds how many pages may follow."""
        if self._total is not None:
            return
        self._total = checked_total(self.export.name, page, total)
        if self._total is not None and exact:
            self._max_pages = 2 * self._total // self.export.page_size + LOOP_SLACK_PAGES

    def _page_done(self, items: int, *, last: bool) -> None:
        self._pages += 1
        self._emitted += items
        if last or self._remaining() == 0:
            self._done = True
        elif self._max_pages is not None and self._pages >= self._max_pages:
            raise ProtocolError(
                f"{self.export.name}: the server reported {self._total} records in total, yet "
                f"after {self._pages} pages of {self.export.page_size} it still sends full "
                "pages with new cursors; stopping instead of paging forever"
            )

    def settle_count(self, number: int, count: int, asked: int | None) -> bool:
        """The paging contract for pages counted only after paging moved on (an unparsed page:
        its cursor was read from the tail, its items are counted when Arrow decodes them).

        ``asked``: the size requested for an unparsed page, None for a parsed one (its count
        was known while paging). A page shorter than asked must be the last with items: more
        items after it are a ``ProtocolError``; the empty page that confirms the end returns
        False (it is not a page of the export). Called in page order by the thread that
        writes; it touches nothing the fetching thread uses.
        """
        short = self._short_page
        if short is not None:
            if not count:
                return False  # the request that confirmed the end
            raise ProtocolError(
                f"{self.export.name}: page {short} had fewer items than the page size, yet "
                f"page {number} has {count} more"
            )
        if asked is not None and count < asked:
            self._short_page = number
        return True

    def parse(self, page: RawPage) -> Any:
        """The whole page parsed; an unusable one is a ProtocolError naming what is wrong."""
        try:
            return page.json(self.endpoint.unique_key)
        except UnusablePage as exc:
            raise ProtocolError(
                f"{self.export.name}: page {self._pages + 1} of POST "
                f"{self.search_path}: {exc.reason}"
            ) from None

    def first_request(self) -> dict[str, Any]:
        """The request for the first page (after the resume cursor, if any)."""
        return self.next_request()

    @abstractmethod
    def next_request(self) -> dict[str, Any]:
        """The next search body (each API shapes its own)."""


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
        raise ProtocolError(
            f"{name}: page {page}: the server returned {count} items for size {size}; it does "
            "not honour the page size"
        )


def check_keys(
    name: str, page: int, items: list[dict[str, Any]], key_fields: Sequence[str], unique_key: str
) -> None:
    """Integer keys must be exact int64 values: orjson reads an integer beyond 64 bits as a
    float, which would be written (JSONL) and echoed rounded. Such a value is always the
    smallest or largest of its column, so a column costs one list, ``min`` and ``max`` (C
    speed); anything unusual is located value by value. v2's strings of digits are checked
    where they become int64 (Parquet) and written as sent (JSONL)."""
    if not items:
        return
    for field in key_fields:
        values: list[Any] = [item.get(field) for item in items]
        ends: tuple[Any, ...]
        try:
            ends = (min(values), max(values))
        except TypeError:  # None, or strings mixed with numbers
            present = [v for v in values if v is not None]
            try:
                ends = (min(present), max(present)) if present else ()
            except TypeError:
                ends = (None,)
        if all(type(v) is str or (type(v) is int and INT64_MIN <= v <= INT64_MAX) for v in ends):
            continue
        for index, value in enumerate(values):
            problem = number_problem(value)
            if problem is not None:
                ident = items[index].get(unique_key) if field != unique_key else None
                record = f" ({unique_key}={ident!r})" if isinstance(ident, int | str) else ""
                raise ProtocolError(
                    f"{name}: page {page} item {index}{record}: field {field!r} is {problem}; "
                    "keys must be integers within int64"
                )
