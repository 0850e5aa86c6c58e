"""Wires one job together: client, paginators, hydration, sinks. Returns results, never prints.

Concurrency model:

* exports run on a pool of ``spec.concurrency`` threads, each with its own snapshot writer;
* inside one export a producer thread fetches pages (``paginator`` + ``ApiClient.post_json_raw``,
  or for Parquet without hydration ``post_page``: only the cursor is read, ``decodes_unparsed``)
  into a bounded queue of ``PREFETCH_PAGES`` while the export thread hydrates and writes the
  previous page, so at most a couple of pages are in memory per export; Parquet exports add a
  converting thread (page N+1 becomes an Arrow batch, from its raw bytes off the GIL when
  hydration left it unchanged, while page N is written);
* hydration lookups of all exports share one bounded executor of ``hydration_concurrency``
  workers per export running at once (the same ceiling as per-export pools, work-conserving);
* every export catches its own failure: it aborts its own snapshot (no manifest) and the other
  exports carry on. A retried request never reaches the writer twice: retries happen inside
  ``ApiClient`` before a page exists, and a page is queued exactly once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import exporter
from exporter.api import dialect_of, get_endpoint, make_paginator
from exporter.api.paging import TOTAL_CAP
from exporter.api.rawpage import RawPage
from exporter.api.types import Endpoint
from exporter.api.validation import resolve_api
from exporter.errors import ExporterError, ProtocolError, SpecError, UsageError
from exporter.pipeline.hydrate import Hydrator
from exporter.pipeline.interrupt import Interrupted, StopFlag
from exporter.pipeline.progress import QuietReporter, Reporter
from exporter.spec import ExportSpec, JobSpec

log = logging.getLogger(__name__)

PREFETCH_PAGES = 2


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    # False, True (continue the newest incomplete snapshot, refuse an incompatible one) or
    # "auto" (continue it when compatible, else start a fresh snapshot and log why).
    resume: bool | str = False
    quiet: bool = False
    # Export names to run (empty = all). Unknown names are a usage error.
    only: tuple[str, ...] = ()
    # Opens each export's writer as ``open_writer(ctx, resume=...)``; None: a snapshot under
    # ``output.path`` (``sinks.open_snapshot``). ``dump -o -`` passes a stdout sink here.
    open_writer: Callable[..., Any] | None = None


@dataclass
class ExportResult:
    name: str
    endpoint: str
    records: int = 0
    pages: int = 0
    retries: int = 0
    requests: int = 0
    seconds: float = 0.0
    files: list[dict[str, Any]] = field(default_factory=list)
    bytes: int = 0
    location: str | None = None
    error: str | None = None
    error_type: str | None = None
    total_reported: int | None = None
    # Dry run: the exact first request the export would page with.
    search_path: str | None = None
    request_body: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def total_is_lower_bound(self) -> bool | None:
        """True when the server's total is the search engine's cap (shown as ``10000+``)."""
        return None if self.total_reported is None else self.total_reported >= TOTAL_CAP

    def to_dict(self) -> dict[str, Any]:
        """JSON form (summary, events): the export's name is ``export``, as in every event."""
        data = {k: v for k, v in self.__dict__.items() if v is not None}
        data = {"export": data.pop("name"), **data}
        if self.total_reported is not None:
            data["total_is_lower_bound"] = self.total_is_lower_bound
        data["ok"] = self.ok
        return data


@dataclass
class RunResult:
    exports: list[ExportResult]
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.exports)

    @property
    def failed(self) -> list[ExportResult]:
        return [r for r in self.exports if not r.ok]


def _new_stats() -> Any:
    from exporter.transport.http import RequestStats

    return RequestStats()


def _make_client(spec: JobSpec, stop: StopFlag | None = None) -> Any:
    from exporter.transport.http import ApiClient

    if stop is None:
        return ApiClient(spec.source)
    # Retry backoffs sleep on the stop flag: a signal ends the wait at once.
    return ApiClient(spec.source, sleep=stop.sleep)


def select_exports(spec: JobSpec, only: tuple[str, ...]) -> tuple[ExportSpec, ...]:
    if not only:
        return spec.exports
    names = {e.name for e in spec.exports}
    unknown = [n for n in only if n not in names]
    if unknown:
        valid = ", ".join(sorted(names))
        raise UsageError(f"--only: unknown export(s) {', '.join(unknown)}; the spec has: {valid}")
    return tuple(e for e in spec.exports if e.name in set(only))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ExporterError):
        return str(exc)
    # A bug, not an expected failure: keep it short for the summary, full trace in debug logs.
    return f"internal error {type(exc).__name__}: {exc}"


class _Done:
    pass


_DONE = _Done()


@dataclass(frozen=True)
class Page:
    # None: the items were not parsed (``unparsed`` holds the page; the sink decodes it)
    items: list[dict[str, Any]] | None
    cursor: Any  # the searchAfter to continue after this page (for resume)
    total: int | None  # the server's (capped) total, for progress
    raw: bytes | None = None  # the v1 search response as received (Parquet decodes it in C++)
    unparsed: RawPage | None = None
    size: int = 0  # the page size asked for (unparsed pages: the sink checks the count)
    number: int = 0  # 1-based page number of this run (for messages)


def decodes_unparsed(writer: Any, endpoint: Endpoint, export: ExportSpec, hydrator: Any) -> bool:
    """Whether the export's pages may skip the Python parse of their items: v1 Parquet whose
    columns Arrow decodes, no hydration (it patches dicts), no ``max_records`` (the cap needs
    the item count while paging)."""
    return (
        dialect_of(endpoint).conversion.arrow_decodes_pages
        and export.max_records is None
        and not hydrator.enabled
        and bool(getattr(writer, "decodes_pages", False))
    )


def iter_pages(
    client: Any, endpoint: Endpoint, paginator: Any, stats: Any = None, *, unparsed: bool = False
) -> Iterator[Page]:
    """The synchronous paging loop: one search per page until the paginator says done.

    Retries happen inside ``client.post_json``; a page is yielded only once it is complete
    and validated, so a retried request can never produce a page twice. ``unparsed``: pages
    come from ``client.post_page`` and only their cursor is read (``rawpage``); the sink
    decodes and checks the items.
    """
    # Pages Arrow can decode keep their raw bytes for the sink; others (v2: string keys) are
    # converted in Python.
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
            page = post_page(endpoint.search_path, body, stats=stats)
            items = paginator.update_state_raw(page)
            if items is None:
                yield Page(
                    None, paginator.cursor, paginator.total, page.raw, page, body["size"], number
                )
            else:
                yield Page(items, paginator.cursor, paginator.total, page.raw, None, 0, number)
            continue
        if post_page is not None:
            page = post_page(endpoint.search_path, body, stats=stats)
            items = paginator.update_state(paginator.parse(page))
            yield Page(items, paginator.cursor, paginator.total, page.raw if post_raw else None)
            continue
        if post_raw is not None:
            raw, response = post_raw(endpoint.search_path, body, stats=stats)
        else:
            response = client.post_json(endpoint.search_path, body, stats=stats)
        items = paginator.update_state(response)
        yield Page(items, paginator.cursor, paginator.total, raw)


class _Producer(threading.Thread):
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
                page = next(pages, _DONE)
                if not self._put(page) or page is _DONE:
                    return
        except BaseException as exc:  # handed to the export thread, which reports it
            self._put(exc)

    def next_page(self) -> Any:
        """The next queued item (a page, ``_DONE`` or an exception), waiting at most until the
        run is told to stop (``Interrupted``), even while the producer is mid-request."""
        while True:
            try:
                return self.pages.get(timeout=0.1)
            except queue.Empty:
                self.run_stop.check()


def hydration_workers(spec: JobSpec, export_workers: int) -> int:
    """Size of the run's lookup pool: ``hydration_concurrency`` per concurrently running export."""
    return max(1, export_workers) * max(1, spec.hydration_concurrency)


class _Run:
    def __init__(
        self,
        spec: JobSpec,
        options: RunOptions,
        reporter: Reporter,
        client: Any,
        export_workers: int = 1,
        stop: StopFlag | None = None,
    ):
        self.spec = spec
        self.options = options
        self.reporter = reporter
        self.client = client
        self.stop = stop or StopFlag()
        # hydration_concurrency lookups per export running at once, pooled: the ceiling on the
        # server is the same as separate per-export pools, but an export with many lookups
        # (truncated variables) can use the capacity that exports without lookups leave idle.
        self.hydration_pool = ThreadPoolExecutor(
            max_workers=hydration_workers(spec, export_workers), thread_name_prefix="hydrate"
        )

    def close(self) -> None:
        self.hydration_pool.shutdown(wait=True, cancel_futures=True)

    # -- one export ---------------------------------------------------------------------

    def export(self, export: ExportSpec) -> ExportResult:
        from exporter.sinks import SnapshotContext, open_snapshot

        result = ExportResult(name=export.name, endpoint=export.endpoint)
        started = time.monotonic()
        search_stats, lookup_stats = _new_stats(), _new_stats()
        writer = None
        producer: _Producer | None = None
        converting: ThreadPoolExecutor | None = None
        self.reporter.export_started(export.name, export.endpoint)
        try:
            self.stop.check()  # queued behind other exports when the stop came: no snapshot
            endpoint = get_endpoint(export.endpoint, self.spec.source.api)
            ctx = SnapshotContext(
                export=export,
                endpoint=endpoint,
                output=self.spec.output,
                job_digest=self.spec.digest,
                api_version=self.spec.source.api,
                tool_version=exporter.__version__,
            )
            open_writer = self.options.open_writer or open_snapshot
            writer = open_writer(ctx, resume=self.options.resume)
            paginator = make_paginator(
                endpoint,
                export,
                start_cursor=writer.resume_cursor,
                already_emitted=writer.records_written,
            )
            hydrator = Hydrator(self.client, endpoint, export, self.hydration_pool, stop=self.stop)
            unparsed = decodes_unparsed(writer, endpoint, export, hydrator)
            pages = iter_pages(self.client, endpoint, paginator, search_stats, unparsed=unparsed)
            producer = _Producer(pages, export.name, self.stop)
            producer.start()
            if writer.converts:
                # Parquet: page N+1 is converted on its own thread (Arrow's JSON decoding
                # releases the GIL) while page N is written: a three-stage pipeline.
                converting = ThreadPoolExecutor(1, thread_name_prefix=f"convert-{export.name}")
            pending: deque[tuple[Page, Future[Any] | None]] = deque()
            seen_retries = 0
            short_page: Page | None = None  # unparsed paging: a short page must be the last

            def write_oldest() -> None:
                nonlocal seen_retries, short_page
                page, batch = pending.popleft()
                converted: Any = None if batch is None else batch.result()
                if unparsed:
                    count = len(page.items) if page.items is not None else converted.num_rows
                    if not count and short_page is not None:
                        return  # the request that confirmed the end: not a page of the export
                    if count and short_page is not None:
                        raise ProtocolError(
                            f"{export.name}: page {short_page.number} had fewer items than "
                            f"the page size, yet page {page.number} has {count} more"
                        )
                    if page.items is None and count < page.size:
                        short_page = page
                writer.write_page(page.items, page.cursor, batch=converted)
                result.pages += 1
                retries = search_stats.retries + lookup_stats.retries
                if retries > seen_retries:
                    seen_retries = retries
                    self.reporter.retry(export.name, retries=retries)
                self.reporter.page_done(
                    export.name,
                    records=writer.records_written,
                    pages=result.pages,
                    total=page.total,
                    retries=retries,
                )

            while True:
                page = producer.next_page()
                if page is _DONE:
                    break
                if isinstance(page, BaseException):
                    if isinstance(page, Exception):
                        # Pages fetched before the failure fail on their own first (an
                        # oversized page is reported as such, not as what paging hit next).
                        while pending:
                            write_oldest()
                    raise page
                result.total_reported = page.total
                batch: Future[Any] | None = None
                if page.unparsed is not None:
                    assert converting is not None
                    batch = converting.submit(
                        writer.convert_page, page.unparsed, page.size, page.number
                    )
                elif page.items:
                    patched = hydrator.hydrate(page.items, lookup_stats)
                    raw = None if patched else page.raw  # raw bytes only while they are true
                    if converting is not None:
                        batch = converting.submit(writer.convert, page.items, raw=raw)
                pending.append((page, batch))
                if converting is None or len(pending) > 1:
                    write_oldest()
            while pending:
                write_oldest()
            producer.join()
            result.retries = search_stats.retries + lookup_stats.retries
            result.requests = search_stats.requests + lookup_stats.requests
            manifest = writer.commit(
                {
                    "pages": result.pages,
                    "retries": result.retries,
                    "requests": result.requests,
                    "total_reported": result.total_reported,
                }
            )
            info = manifest.to_dict()
            result.records = int(info.get("records", writer.records_written))
            result.files = list(info.get("files", []))
            result.bytes = sum(int(f.get("bytes", 0)) for f in result.files)
            result.location = None if info.get("location") is None else str(info["location"])
        except BaseException as exc:
            if producer is not None:
                producer.stop.set()
                producer.join()
            if converting is not None:
                converting.shutdown(wait=True, cancel_futures=True)
                converting = None
            result.error = _describe(exc)
            result.error_type = type(exc).__name__
            result.retries = search_stats.retries + lookup_stats.retries
            result.requests = search_stats.requests + lookup_stats.requests
            if writer is not None:
                result.records = writer.records_written
                try:
                    status = "interrupted" if isinstance(exc, Interrupted) else "failed"
                    writer.abort(result.error, status=status)
                except Exception as abort_exc:  # keep the original error as the reason
                    log.error("%s: aborting the snapshot failed: %s", export.name, abort_exc)
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt / SystemExit: stop the run after cleaning up
            if not isinstance(exc, ExporterError):
                log.debug("%s failed", export.name, exc_info=exc)
        if converting is not None:
            converting.shutdown(wait=True)
        result.seconds = time.monotonic() - started
        self.reporter.export_finished(result)
        return result

    # -- dry run ------------------------------------------------------------------------

    def probe(self, export: ExportSpec) -> ExportResult:
        """Send the first search with ``size: 1``; report the body we would page with."""
        result = ExportResult(name=export.name, endpoint=export.endpoint)
        started = time.monotonic()
        stats = _new_stats()
        try:
            self.stop.check()
            endpoint = get_endpoint(export.endpoint, self.spec.source.api)
            body = make_paginator(endpoint, export).first_request()
            result.search_path = endpoint.search_path
            result.request_body = body
            dialect = dialect_of(endpoint)
            one = dialect.one_record_request(body)
            response = self.client.post_json(endpoint.search_path, one, stats=stats)
            total = dialect.reported_total(response)
            result.total_reported = total if isinstance(total, int) else None
        except Exception as exc:
            result.error = _describe(exc)
            result.error_type = type(exc).__name__
        result.retries, result.requests = stats.retries, stats.requests
        result.seconds = time.monotonic() - started
        return result


def bind_api(
    spec: JobSpec, client: Any, make_client: Callable[[JobSpec], Any] | None = None
) -> tuple[JobSpec, Any]:
    """``source.api: auto``: probe the server once and bind the spec to the chosen API.

    The choice and its reason are logged; the spec is validated again for that API (SpecError
    when it only fits the other one). v1/v2 specs are returned as they are. Each API is probed
    with credentials valid for it: when the spec's default audience differs per API (SaaS),
    ``make_client`` builds and authenticates a client for the other audience, and the run goes
    on with the client of the chosen API. Returns the bound spec and the client to use (the
    caller closes it; clients made here and not returned are closed here).
    """
    if spec.source.api != "auto":
        return spec, client
    from exporter.api.probe import choose_api, log_choice
    from exporter.api.validation import fitting_apis, with_api_audience

    clients: dict[str, Any] = {}

    def client_for(api: str) -> Any:
        probed = with_api_audience(spec, api)
        if make_client is None or probed.source.auth == spec.source.auth:
            return client
        if api not in clients:
            clients[api] = make_client(probed)
            clients[api].authenticate()
        return clients[api]

    try:
        api, reason = choose_api(client, fits=fitting_apis(spec), client_for=client_for)
        log_choice(api, reason)
        bound = resolve_api(spec, api)
        chosen = client_for(api)
    except BaseException:
        for other in clients.values():
            other.close()
        raise
    for other in clients.values():
        if other is not chosen:
            other.close()
    if chosen is not client:
        client.close()
    return bound, chosen


def run_job(
    spec: JobSpec,
    options: RunOptions | None = None,
    reporter: Reporter | None = None,
    *,
    client_factory: Callable[[JobSpec], Any] | None = None,
    stop: StopFlag | None = None,
) -> RunResult:
    """Run (or dry-run) every selected export of ``spec``; failures are in the result.

    ``stop``: set by a signal (``pipeline/interrupt.py``); the exports then end as ``Interrupted``
    failures with resumable snapshots.
    """
    options = options or RunOptions()
    reporter = reporter or QuietReporter()
    exports = select_exports(spec, options.only)
    started = time.monotonic()
    stop = stop or StopFlag()

    def make_client(for_spec: JobSpec) -> Any:
        return client_factory(for_spec) if client_factory else _make_client(for_spec, stop)

    client = make_client(spec)
    run: _Run | None = None
    try:
        try:
            # Credentials are checked once, before any export starts paging.
            client.authenticate()
            spec, client = bind_api(spec, client, make_client)
        except SpecError:
            raise  # the probed API cannot run this spec: exit 2, nothing was exported
        except ExporterError as exc:
            results = [
                ExportResult(e.name, e.endpoint, error=str(exc), error_type=type(exc).__name__)
                for e in exports
            ]
        else:
            workers = max(1, min(spec.concurrency, len(exports)))
            run = _Run(spec, options, reporter, client, export_workers=workers, stop=stop)
            work = run.probe if options.dry_run else run.export
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export") as pool:
                results = list(pool.map(work, exports))
    finally:
        if run is not None:
            run.close()
        client.close()
    result = RunResult(results, dry_run=options.dry_run, seconds=time.monotonic() - started)
    if not options.dry_run:
        reporter.run_finished(result)
    return result
