"""Wires one job together: client, API binding, one pipeline per export. Returns results, never
prints.

Concurrency model:

* exports run on a pool of ``spec.concurrency`` threads, each an ``ExportPipeline`` (export.py)
  with its own snapshot writer;
* inside one export a fetching thread pages (``fetch.Fetcher``; for Parquet without hydration
  ``post_page``: only the cursor is read, ``decode.decodes_unparsed``) into a bounded queue of
  ``PREFETCH_PAGES`` while the export thread hydrates and writes the previous page, so at most
  a couple of pages are in memory per export; Parquet exports add two converting threads
  (``decode.Decoder``: pages N+1 and N+2 become Arrow batches, from their raw bytes off the GIL
  when hydration left them unchanged, while page N is written);
* hydration lookups of all exports share one bounded executor of ``hydration_concurrency``
  workers per export running at once (the same ceiling as per-export pools, work-conserving);
* every export catches its own failure: it aborts its own snapshot (no manifest) and the other
  exports carry on. A retried request never reaches the writer twice: retries happen inside
  ``ApiClient`` before a page exists, and a page is queued exactly once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from exporter.api import dialect_of, get_endpoint, make_paginator
from exporter.api.validation import resolve_api
from exporter.errors import ExporterError, SpecError, UsageError
from exporter.pipeline.export import ExportPipeline, RunContext, describe, new_stats
from exporter.pipeline.family import (
    FamilyTask,
    attach_children,
    check_selection,
    run_family,
    without_children,
)
from exporter.pipeline.incremental import WindowTask, plan_run
from exporter.pipeline.interrupt import StopFlag
from exporter.pipeline.lock import hold_locks
from exporter.pipeline.progress import QuietReporter, Reporter
from exporter.pipeline.results import ExportResult, RunOptions, RunResult, new_run_id
from exporter.pipeline.tables import lock_names, update_tables
from exporter.spec import ExportSpec, JobSpec

log = logging.getLogger(__name__)

__all__ = ["ExportResult", "RunOptions", "RunResult", "bind_api", "run_job", "select_exports"]


def _make_client(spec: JobSpec, stop: StopFlag | None = None) -> Any:
    from exporter.transport.client import ApiClient

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
    selected = tuple(e for e in spec.exports if e.name in set(only))
    check_selection(spec, selected)
    return selected


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
        # The searches of dependent exports (one per parent value on v1): ``concurrency`` in
        # flight at most, whatever the number of families running.
        self.child_pool = ThreadPoolExecutor(
            max_workers=max(1, spec.concurrency), thread_name_prefix="child-search"
        )
        self.context = RunContext(spec, options, reporter, client, self.hydration_pool, self.stop)

    def close(self) -> None:
        self.child_pool.shutdown(wait=True, cancel_futures=True)
        self.hydration_pool.shutdown(wait=True, cancel_futures=True)

    def export(self, work: ExportSpec | WindowTask | FamilyTask) -> ExportResult | list[Any]:
        """Run one export (or one window of one, or a parent's task with its dependent
        exports) through its pipeline (fetch -> hydrate -> decode -> write)."""
        if isinstance(work, FamilyTask):
            return run_family(self.context, work, self.child_pool)
        export, window = (work.export, work.info) if isinstance(work, WindowTask) else (work, None)
        if export.sharded:
            from exporter.pipeline.sharded import ShardedExport  # (sharded exports only)

            return ShardedExport(self.context, export, window).run()
        return ExportPipeline(self.context, export, window).run()

    # -- dry run ------------------------------------------------------------------------

    def probe(self, export: ExportSpec) -> ExportResult:
        """Send the first search with ``size: 1``; report the body we would page with."""
        result = ExportResult(name=export.name, endpoint=export.endpoint)
        started = time.monotonic()
        stats = new_stats()
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
            result.error = describe(exc)
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


def _refuse_api_switch(spec: JobSpec, options: RunOptions, exports: tuple[ExportSpec, ...]) -> None:
    """``output.schema: native`` keeps each API's own field names, so an ``auto`` run must not
    add the other API's snapshots to an export folder unless told to (``canonical`` writes the
    same schema whichever API answered)."""
    if spec.output.schema != "native" or options.allow_api_switch or options.open_writer:
        return
    from exporter.sinks.snapshot import refuse_api_switch

    refuse_api_switch(spec.output, [e.name for e in exports], spec.source.api)


def _take_locks(
    locks: contextlib.ExitStack,
    spec: JobSpec,
    options: RunOptions,
    exports: tuple[ExportSpec, ...],
) -> None:
    """The run locks of the exports' snapshots, into ``locks`` (a dry run or a stream writes
    none). Taken once the API is bound: a spec the probed API refuses leaves no trace."""
    if not options.dry_run and options.open_writer is None:
        names = [e.name for e in exports]
        if options.shard is None:  # a shard's run leaves the tables to `commit` (below)
            names += lock_names(spec, exports)
        # run --shard: one lock per shard, so the N processes of a run do not stop each other.
        suffix = "" if options.shard is None else f"-shard-{options.shard[0]:04d}"
        locks.enter_context(hold_locks(spec.output, names, options.run_id, suffix))


def _plan(
    spec: JobSpec, exports: tuple[ExportSpec, ...], client: Any, options: RunOptions
) -> list[Any]:
    """The run's work: exports, incremental ones as their windows (a dry run probes the
    exports as they are). Planning that fails (the server's clock, the output's manifests)
    fails the incremental exports, not the run's usage."""
    if options.dry_run:
        return list(exports)
    planned = without_children(exports)  # dependent exports run inside their parent's tasks
    try:
        tasks: list[Any] = list(
            plan_run(
                spec, planned, client, range_from=options.range_from, range_to=options.range_to
            )
        )
    except UsageError:
        raise
    except ExporterError as exc:
        failed = _PlanFailed(str(exc), type(exc).__name__)
        tasks = [failed.result(e) if e.incremental is not None else e for e in planned]
    return attach_children(spec, tasks)


class _PlanFailed:
    def __init__(self, error: str, error_type: str) -> None:
        self.error, self.error_type = error, error_type

    def result(self, export: ExportSpec) -> ExportResult:
        return ExportResult(
            export.name, export.endpoint, error=self.error, error_type=self.error_type
        )


def _guard(work: Callable[[Any], Any]) -> Callable[[Any], list[ExportResult]]:
    """``work`` for the pool, passing results already decided (a failed plan) through; every
    task gives a list of results (a family gives its parent's and its children's)."""

    def run(task: Any) -> list[ExportResult]:
        done = task if isinstance(task, ExportResult | list) else work(task)
        return done if isinstance(done, list) else [done]

    return run


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
    if not options.run_id:
        options = replace(options, run_id=new_run_id())
    reporter = reporter or QuietReporter()
    exports = select_exports(spec, options.only)
    if options.shard is not None:
        from exporter.pipeline.sharded import check_shard_run  # (sharded runs only)

        check_shard_run(exports, options.shard)
    started = time.monotonic()
    stop = stop or StopFlag()
    # Released at the end; a second run of the same exports stops at them (RunLocked, exit 75).
    locks = contextlib.ExitStack()

    def make_client(for_spec: JobSpec) -> Any:
        return client_factory(for_spec) if client_factory else _make_client(for_spec, stop)

    client = make_client(spec)
    run: _Run | None = None
    try:
        try:
            # Credentials are checked once, before any export starts paging.
            client.authenticate()
            auto = spec.source.api == "auto"
            spec, client = bind_api(spec, client, make_client)
        except SpecError:
            raise  # the probed API cannot run this spec: exit 2, nothing was exported
        except ExporterError as exc:
            results = [
                ExportResult(e.name, e.endpoint, error=str(exc), error_type=type(exc).__name__)
                for e in exports
            ]
        else:
            if auto and not options.dry_run:
                _refuse_api_switch(spec, options, exports)  # exit 2 before any export starts
            _take_locks(locks, spec, options, exports)  # before anything is read or written
            tasks = _plan(spec, exports, client, options)
            workers = max(1, min(spec.concurrency, len(tasks)))
            run = _Run(spec, options, reporter, client, export_workers=workers, stop=stop)
            work = run.probe if options.dry_run else run.export
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export") as pool:
                results = [r for done in pool.map(_guard(work), tasks) for r in done]
            if not (options.dry_run or options.open_writer or options.shard or stop.stopped):
                # After every snapshot of the run committed: one commit per table (issue 20);
                # a run --shard commits no snapshot: `operate-export commit` updates the tables.
                update_tables(spec, exports, results, options.run_id)
    finally:
        if run is not None:
            run.close()
        client.close()
        locks.close()
    result = RunResult(
        results,
        dry_run=options.dry_run,
        seconds=time.monotonic() - started,
        run_id=options.run_id,
    )
    if not options.dry_run:
        reporter.run_finished(result)
    return result
