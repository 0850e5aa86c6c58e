"""Fetch stage: one export's pages from the server, ahead of the other stages.

``iter_pages`` is the synchronous paging loop (the paginator validates every page against the
paging contract); ``Fetcher`` runs it on its own thread into a bounded queue of
``PREFETCH_PAGES``, so at most a couple of pages are in memory per export.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from exporter.api import dialect_of
from exporter.api.paging import Paginator
from exporter.api.rawpage import RawPage
from exporter.api.types import Endpoint
from exporter.pipeline.interrupt import StopFlag

PREFETCH_PAGES = 2


@dataclass(frozen=True)
class Page:
    # None: the items were not parsed (``unparsed`` holds the page; the sink decodes it)
    items: list[dict[str, Any]] | None
    cursor: Any  # the searchAfter to continue after this page (for resume)
    total: int | None  # the server's (capped) total, for progress
    raw: bytes | None = None  # the search response as received (Parquet decodes it in C++)
    unparsed: RawPage | None = None
    size: int = 0  # the page size asked for (unparsed pages: the sink checks the count)
    number: int = 0  # 1-based page number of this run (for messages)


class _Done:
    pass


DONE = _Done()


def iter_pages(
    client: Any,
    endpoint: Endpoint,
    paginator: Paginator,
    stats: Any = None,
    *,
    unparsed: bool = False,
) -> Iterator[Page]:
    """The synchronous paging loop: one search per page until the paginator says done.

    Retries happen inside ``client.post_json``; a page is yielded only once it is complete
    and validated, so a retried request can never produce a page twice. ``unparsed``: pages
    come from ``client.post_page`` and only their cursor is read (``rawpage``); the sink
    decodes and checks the items.
    """
    # Pages Arrow can decode (the dialect says so) keep their raw bytes for the sink; others
    # are converted in Python.
    decodable = dialect_of(endpoint).conversion.arrow_decodes_pages
    post_raw = getattr(client, "post_json_raw", None) if decodable else None
    # Search pages come through ``rawpage``: a complete page no parser takes (text that is not
    # UTF-8, nesting too deep) is refused with the export and page named, not retried.
    post_page = getattr(client, "post_page", None)
    number = 0
    while paginator.has_next:
        body = paginator.next_request()
        number += 1
        raw = None
        if post_page is not None and unparsed:
            page = post_page(paginator.search_path, body, stats=stats)
            items = paginator.update_state_raw(page)
            if items is None:
                yield Page(
                    None, paginator.cursor, paginator.total, page.raw, page, paginator.asked, number
                )
            else:
                yield Page(items, paginator.cursor, paginator.total, page.raw, None, 0, number)
            continue
        if post_page is not None:
            page = post_page(paginator.search_path, body, stats=stats)
            items = paginator.update_state(paginator.parse(page))
            yield Page(items, paginator.cursor, paginator.total, page.raw if post_raw else None)
            continue
        if post_raw is not None:
            raw, response = post_raw(paginator.search_path, body, stats=stats)
        else:
            response = client.post_json(paginator.search_path, body, stats=stats)
        items = paginator.update_state(response)
        yield Page(items, paginator.cursor, paginator.total, raw)


class Fetcher(threading.Thread):
    """Runs ``iter_pages`` ahead of the writer into a bounded queue; stops when told to (by the
    export thread, or by the run's stop flag, checked before each request)."""

    def __init__(self, pages: Iterator[Page], name: str, run_stop: StopFlag | None = None) -> None:
        super().__init__(name=f"pages-{name}", daemon=True)
        self.source = pages
        self.pages: queue.Queue[Any] = queue.Queue(maxsize=PREFETCH_PAGES)
        self.stop = threading.Event()
        self.run_stop = run_stop or StopFlag()

    def _put(self, value: Any) -> bool:
        while not self.stop.is_set() and not self.run_stop.stopped:
            try:
                self.pages.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        try:
            pages = iter(self.source)
            while True:
                # The generator sends the next request when asked for the next page: checking
                # here stops paging before the request, not after it.
                self.run_stop.check()
                page = next(pages, DONE)
                if not self._put(page) or page is DONE:
                    return
        except BaseException as exc:  # handed to the export thread, which reports it
            self._put(exc)

    def next_page(self) -> Any:
        """The next queued item (a page, ``DONE`` or an exception), waiting at most until the
        run is told to stop (``Interrupted``), even while the fetcher is mid-request."""
        while True:
            try:
                return self.pages.get(timeout=0.1)
            except queue.Empty:
                self.run_stop.check()

    def cancel(self) -> None:
        """Stop fetching and wait for the thread (after a failure downstream)."""
        self.stop.set()
        self.join()
