"""Write stage: pages reach the sink in order, with their batches, and progress is reported."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from exporter.api.paging import Paginator
from exporter.pipeline.fetch import Page
from exporter.pipeline.progress import Reporter
from exporter.pipeline.results import ExportResult


class PageWriter:
    """Holds the pages whose batches are being decoded and writes the oldest when asked.

    For pages counted only once decoded (unparsed pages), the paginator settles the paging
    contract (``settle_count``: a short page must be the last with items) before the write.
    """

    def __init__(
        self,
        writer: Any,
        paginator: Paginator,
        reporter: Reporter,
        result: ExportResult,
        stats: tuple[Any, ...],
        *,
        unparsed: bool,
        on_written: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self._writer = writer
        self._on_written = on_written  # a parent hands its written records to its children
        self._paginator = paginator
        self._reporter = reporter
        self._result = result
        self._stats = stats
        self._unparsed = unparsed
        self._pending: deque[tuple[Page, Future[Any] | None]] = deque()
        self._seen_retries = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, page: Page, batch: Future[Any] | None) -> None:
        self._pending.append((page, batch))

    def drain(self) -> None:
        while self._pending:
            self.write_oldest()

    def write_oldest(self) -> None:
        page, batch = self._pending.popleft()
        converted: Any = None if batch is None else batch.result()
        if self._unparsed and not self._settle(page, converted):
            return  # the request that confirmed the end: not a page of the export
        self._writer.write_page(page.items, page.cursor, batch=converted)
        if self._on_written is not None and page.items:
            self._on_written(page.items)
        self._result.pages += 1
        self._report(page)

    def _settle(self, page: Page, converted: Any) -> bool:
        count = len(page.items) if page.items is not None else converted.num_rows
        asked = page.size if page.items is None else None
        return self._paginator.settle_count(page.number, count, asked)

    def _report(self, page: Page) -> None:
        name = self._result.name
        retries = sum(stats.retries for stats in self._stats)
        if retries > self._seen_retries:
            self._seen_retries = retries
            self._reporter.retry(name, retries=retries)
        self._reporter.page_done(
            name,
            records=self._writer.records_written,
            pages=self._result.pages,
            total=page.total,
            retries=retries,
        )
