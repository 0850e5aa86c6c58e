"""Decode stage: a page becomes an Arrow batch for sinks that convert (Parquet).

The converting threads decode pages N+1 and N+2 while page N is written (Arrow's JSON decoding
releases the GIL, so two pages decode side by side on two cores): from the raw bytes when the
page is still what the server sent, from the items otherwise. The batches are written in page
order whatever order they finish in. Whether a page may skip the Python parse altogether is
the dialect's answer (``ConversionHints.arrow_decodes_pages``) and the sink's
(``decodes_pages``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from exporter.api import dialect_of
from exporter.api.types import Endpoint
from exporter.pipeline.fetch import Page
from exporter.spec import ExportSpec


def decodes_unparsed(writer: Any, endpoint: Endpoint, export: ExportSpec, hydrator: Any) -> bool:
    """Whether the export's pages may skip the Python parse of their items: pages Arrow decodes
    (the dialect says so), no hydration (it patches dicts), no ``max_records`` (the cap needs
    the item count while paging), a sink that decodes pages."""
    return (
        dialect_of(endpoint).conversion.arrow_decodes_pages
        and export.max_records is None
        and not hydrator.enabled
        and bool(getattr(writer, "decodes_pages", False))
    )


# Decoding a page is the longest stage of a Parquet export (~1.2 ms of Arrow's JSON reader per
# 1,000 items, more than paging or writing it): two threads keep it off the critical path when
# a second core is free (v2 fast scenario: see the commit that set it).
DECODE_THREADS = 2

# The converting threads run at a lower priority (a higher nice value) than the rest of the
# process. They are throughput work with pages queued ahead of them, while the paging thread is
# the run's critical path: each page it has not yet asked for delays everything after it, and
# its answer needs the server's CPU too when both share a machine. On 2 busy cores the
# scheduler then runs the paging thread (and the server) first and the decoding in the gaps.
DECODE_NICENESS = 10


def _lower_priority() -> None:
    """Raise the calling thread's nice value by ``DECODE_NICENESS`` (Linux: setpriority on a
    thread id changes that thread alone; elsewhere the id could name another process, so
    nothing is done). Lowering one's own priority needs no privilege; a refusal is ignored."""
    if not DECODE_NICENESS or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):
        now = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, now + DECODE_NICENESS))


class Decoder:
    """Submits pages to the converting threads; nothing to do for sinks that convert nothing."""

    def __init__(self, writer: Any, name: str, threads: int = DECODE_THREADS) -> None:
        self._writer = writer
        self._pool = (
            ThreadPoolExecutor(
                threads, thread_name_prefix=f"convert-{name}", initializer=_lower_priority
            )
            if writer.converts
            else None
        )
        # How many pages may be decoding while the oldest waits to be written.
        self.ahead = threads if self._pool is not None else 0

    def submit(self, page: Page, raw: bytes | None) -> Future[Any] | None:
        """The page's batch to come, or None (no conversion, or no items). ``raw``: the page's
        bytes while they are still exactly its items (not after hydration patched them)."""
        if page.unparsed is not None:
            assert self._pool is not None, "unparsed pages need a converting sink"
            return self._pool.submit(
                self._writer.convert_page, page.unparsed, page.size, page.number
            )
        if self._pool is not None and page.items:
            return self._pool.submit(self._writer.convert, page.items, raw=raw)
        return None

    def close(self, *, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None
