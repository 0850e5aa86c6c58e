"""One export as a pipeline of named stages: fetch -> hydrate -> decode -> write.

* ``Fetcher`` (fetch.py): the paginator's requests on their own thread, a couple of pages ahead;
* ``Hydrator`` (hydrate.py): the lookups that complete a page's items, on the run's shared pool;
* ``Decoder`` (decode.py): Parquet's converting threads, pages ahead of the writer;
* ``PageWriter`` (write.py): pages into the sink in order, progress to the reporter.

``ExportPipeline`` only wires them and owns the export's outcome: a committed snapshot, or an
aborted one with the failure in the result (the other exports carry on).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from exporter.api import dialect_of, get_endpoint, make_paginator
from exporter.errors import ExporterError
from exporter.pipeline.decode import Decoder, decodes_unparsed
from exporter.pipeline.fetch import DONE, Fetcher, iter_pages
from exporter.pipeline.hydrate import Hydrator
from exporter.pipeline.interrupt import Interrupted, StopFlag
from exporter.pipeline.progress import Reporter
from exporter.pipeline.results import ExportResult, RunOptions
from exporter.pipeline.write import PageWriter
from exporter.spec import ExportSpec, JobSpec
from exporter.version import __version__

log = logging.getLogger(__name__)


def new_stats() -> Any:
    from exporter.transport.http import RequestStats

    return RequestStats()


def describe(exc: BaseException) -> str:
    if isinstance(exc, ExporterError):
        return str(exc)
    # A bug, not an expected failure: keep it short for the summary, full trace in debug logs.
    return f"internal error {type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class RunContext:
    """What every export of a run shares."""

    spec: JobSpec
    options: RunOptions
    reporter: Reporter
    client: Any
    hydration_pool: Executor  # the lookups of all exports
    stop: StopFlag


class PipelineHooks:
    """What a family of dependent exports (``family.py``) adds to its parent's pipeline; these
    defaults add nothing."""

    # Pages reach ``page_written`` with their items parsed, and the snapshot starts fresh (the
    # children need every record the parent writes in this run).
    needs_items = False

    def opened(self, writer: Any) -> None:
        """The parent's snapshot is open (the children can name it)."""

    def page_written(self, items: list[dict[str, Any]]) -> None:
        """A page is in the parent's snapshot."""

    def before_commit(self) -> list[dict[str, Any]] | None:
        """Everything is written: commit the children; their snapshots, for the manifest."""
        return None

    def failed(self, reason: str, interrupted: bool) -> None:
        """The parent failed: abort the children."""


class ExportPipeline:
    """Runs one export of a job (``run()``, once) and returns its result."""

    def __init__(
        self,
        run: RunContext,
        export: ExportSpec,
        window: dict[str, Any] | None = None,
        hooks: PipelineHooks | None = None,
        *,
        shard: tuple[Any, int] | None = None,
    ) -> None:
        self.run_context = run
        self.hooks = hooks or PipelineHooks()
        self.window = window  # an incremental export's window, for its manifest
        # (sinks.shards.ShardedSnapshot, index): write one shard of a plan into it.
        self.shard = shard
        self.spec, self.options, self.reporter = run.spec, run.options, run.reporter
        self.client, self.stop = run.client, run.stop
        self.export = export
        self.result = ExportResult(name=export.name, endpoint=export.endpoint)
        if window is not None:
            self.result.window = f"[{window['from']}, {window['to']})"
        if shard is not None:
            self.result.name = f"{export.name}[shard {shard[1]}/{shard[0].plan.count}]"
        self.search_stats, self.lookup_stats = new_stats(), new_stats()
        self.writer: Any = None
        self.fetcher: Fetcher | None = None
        self.decoder: Decoder | None = None

    def run(self) -> ExportResult:
        started = time.monotonic()
        self.reporter.export_started(self.result.name, self.export.endpoint)
        try:
            self.stop.check()  # queued behind other exports when the stop came: no snapshot
            self._pump(*self._open())
            self._commit()
        except BaseException as exc:
            self._fail(exc)
        if self.decoder is not None:
            self.decoder.close()
        self.result.seconds = time.monotonic() - started
        self.reporter.export_finished(self.result)
        return self.result

    def _open(self) -> tuple[Hydrator, PageWriter]:
        """The sink's writer and the stages around it; the fetcher starts paging."""
        from exporter.sinks import SnapshotContext, open_snapshot

        export = self.export
        endpoint = get_endpoint(export.endpoint, self.spec.source.api)
        ctx = SnapshotContext(
            export=export,
            endpoint=endpoint,
            output=self.spec.output,
            job_digest=self.spec.digest,
            api_version=self.spec.source.api,
            tool_version=__version__,
            incremental=self.window,
            run_id=self.options.run_id,
        )
        if self.shard is not None:
            snapshot, index = self.shard
            self.writer = writer = snapshot.writer(index)
            self.hooks.opened(writer)
            paginator = dialect_of(endpoint).shard_paginator(
                endpoint,
                export,
                snapshot.plan.shards[index],
                start_cursor=writer.resume_cursor,
                already_emitted=writer.records_written,
            )
        else:
            open_writer = self.options.open_writer or open_snapshot
            resume = False if self.hooks.needs_items else self.options.resume
            self.writer = writer = open_writer(ctx, resume=resume)
            self.hooks.opened(writer)
            paginator = make_paginator(
                endpoint,
                export,
                start_cursor=writer.resume_cursor,
                already_emitted=writer.records_written,
            )
        pool = self.run_context.hydration_pool
        hydrator = Hydrator(self.client, endpoint, export, pool, stop=self.stop)
        unparsed = decodes_unparsed(writer, endpoint, export, hydrator)
        unparsed = unparsed and not self.hooks.needs_items
        pages = iter_pages(self.client, endpoint, paginator, self.search_stats, unparsed=unparsed)
        self.fetcher = Fetcher(pages, export.name, self.stop)
        self.fetcher.start()
        self.decoder = Decoder(writer, export.name)
        stats = (self.search_stats, self.lookup_stats)
        page_writer = PageWriter(
            writer,
            paginator,
            self.reporter,
            self.result,
            stats,
            unparsed=unparsed,
            on_written=self.hooks.page_written,
        )
        return hydrator, page_writer

    def _pump(self, hydrator: Hydrator, page_writer: PageWriter) -> None:
        """Pages from the fetcher through hydration and decoding into the writer, in order."""
        assert self.fetcher is not None and self.decoder is not None
        while True:
            page = self.fetcher.next_page()
            if page is DONE:
                break
            if isinstance(page, BaseException):
                if isinstance(page, Exception):
                    # Pages fetched before the failure fail on their own first (an oversized
                    # page is reported as such, not as what paging hit next).
                    page_writer.drain()
                raise page
            self.result.total_reported = page.total
            raw = page.raw
            hydrating = page.unparsed is None and bool(page.items)
            if hydrating and hydrator.hydrate(page.items or [], self.lookup_stats):
                raw = None  # raw bytes only while they are true
            page_writer.add(page, self.decoder.submit(page, raw))
            if page_writer.pending > self.decoder.ahead:
                page_writer.write_oldest()
        page_writer.drain()
        self.fetcher.join()

    def _count_requests(self) -> None:
        self.result.retries = self.search_stats.retries + self.lookup_stats.retries
        self.result.requests = self.search_stats.requests + self.lookup_stats.requests

    def _commit(self) -> None:
        result = self.result
        children = self.hooks.before_commit()
        self._count_requests()
        # Only a parent names children (other writers, the stdout sink, take no such key).
        links = {} if children is None else {"children": children}
        manifest = self.writer.commit(
            {
                "pages": result.pages,
                "retries": result.retries,
                "requests": result.requests,
                "total_reported": result.total_reported,
            },
            **links,
        )
        info = manifest.to_dict()
        result.records = int(info.get("records", self.writer.records_written))
        result.files = list(info.get("files", []))
        result.bytes = sum(int(f.get("bytes", 0)) for f in result.files)
        result.location = None if info.get("location") is None else str(info["location"])

    def _fail(self, exc: BaseException) -> None:
        """Stop the stages, abort the snapshot (no manifest), keep the error in the result."""
        if self.fetcher is not None:
            self.fetcher.cancel()
        if self.decoder is not None:
            self.decoder.close(cancel=True)
        result = self.result
        result.error = describe(exc)
        result.error_type = type(exc).__name__
        self.hooks.failed(result.error, isinstance(exc, Interrupted))
        self._count_requests()
        if self.writer is not None:
            result.records = self.writer.records_written
            try:
                status = "interrupted" if isinstance(exc, Interrupted) else "failed"
                self.writer.abort(result.error, status=status)
            except Exception as abort_exc:  # keep the original error as the reason
                log.error("%s: aborting the snapshot failed: %s", self.export.name, abort_exc)
        if not isinstance(exc, Exception):
            raise exc  # KeyboardInterrupt / SystemExit: stop the run after cleaning up
        if not isinstance(exc, ExporterError):
            log.debug("%s failed", self.export.name, exc_info=exc)
