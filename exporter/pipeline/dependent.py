"""The child stage of a dependent export (issue 16): the parent's written records, batched, in;
complete child searches out, into the child's own snapshot.

The parent's page writer hands every written page to ``ChildExport.offer`` (on the parent's
export thread): the values of the parent field are collected into batches of ``batch_size``
and handed over through a queue of one batch, so the child starts on the parent's first pages,
the parent waits when the child falls behind, and no more than a few batches of parent values
are held at once. The child's own thread turns each batch into searches (the dialect decides:
v2 one ``$in`` search per batch where the field takes ``$in``, else one exact search per value),
runs them on the run's child-search pool of ``concurrency`` workers (so that bounds the child
requests in flight, whatever the number of children) and pages each search completely into the
snapshot. Committing and aborting are the family's business (``family.py``).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from concurrent.futures import Executor
from dataclasses import replace
from typing import Any

from exporter.api import dialect_of, get_endpoint, make_paginator
from exporter.errors import ExportFailed
from exporter.pipeline.export import RunContext, describe, new_stats
from exporter.pipeline.fetch import iter_pages
from exporter.pipeline.hydrate import Hydrator
from exporter.pipeline.interrupt import Interrupted
from exporter.pipeline.results import ExportResult
from exporter.spec import ExportSpec
from exporter.version import __version__

_END = object()
_POLL = 0.1  # seconds: how often a wait looks at the stop flag and the other side's failure


class DependentFailed(ExportFailed):
    """A dependent export failed, so its parent's snapshot is not committed either."""


class ChildExport:
    """One dependent export of one parent snapshot (one window of an incremental parent)."""

    def __init__(self, run: RunContext, export: ExportSpec, search_pool: Executor) -> None:
        assert export.parent is not None
        self.run, self.export, self.link = run, export, export.parent
        self.search_pool = search_pool
        self.endpoint = get_endpoint(export.endpoint, run.spec.source.api)
        self.dialect = dialect_of(self.endpoint)
        self.result = ExportResult(name=export.name, endpoint=export.endpoint)
        self.search_stats, self.lookup_stats = new_stats(), new_stats()
        self.hydrator = Hydrator(
            run.client, self.endpoint, export, run.hydration_pool, stop=run.stop
        )
        self.writer: Any = None
        self._batches: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._pending: list[Any] = []  # parent values of the batch being collected
        self._seen: set[Any] = set()
        self._write_lock = threading.Lock()  # the searches of one batch write concurrently
        self._error: BaseException | None = None
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._consume, name=f"child-{export.name}")
        self._started = time.monotonic()
        self._reported = False  # export_finished was sent
        self.parent_values = 0  # distinct parent values per batch, summed

    # -- the parent's side (its export thread) ------------------------------------------------

    def open(self, parent_writer: Any, window: dict[str, Any] | None) -> None:
        """Open the child's snapshot, naming the parent's, and start consuming batches."""
        from exporter.sinks import SnapshotContext, open_snapshot

        self.run.reporter.export_started(self.export.name, self.export.endpoint)
        if window is not None:
            self.result.window = f"[{window['from']}, {window['to']})"
        parent = {
            "export": self.link.export,
            "snapshot": parent_writer.directory.rsplit("/", 1)[-1],
            "location": parent_writer.location,
            "field": self.link.field,
            "filter_field": self.link.filter_field,
            "window": None
            if window is None
            else {k: window[k] for k in ("mode", "field", "from", "to") if k in window},
        }
        spec = self.run.spec
        ctx = SnapshotContext(
            export=self.export,
            endpoint=self.endpoint,
            output=spec.output,
            job_digest=spec.digest,
            api_version=spec.source.api,
            tool_version=__version__,
            run_id=self.run.options.run_id,
            parent=parent,
        )
        open_writer = self.run.options.open_writer or open_snapshot
        self.writer = open_writer(ctx, resume=False)
        self._thread.start()

    def offer(self, items: list[dict[str, Any]]) -> None:
        """A page the parent wrote: its parent-field values join the current batch."""
        self._raise_if_failed()
        field = self.link.field
        for item in items:
            value = item.get(field)
            if value is None or value in self._seen:
                continue  # no child can match null; a value twice in a batch is searched once
            self._seen.add(value)
            self._pending.append(value)
            if len(self._pending) >= self.link.batch_size:
                self._hand_over()

    def finish(self) -> None:
        """The parent wrote everything: hand over the last batch, wait for the searches."""
        if self._pending:
            self._hand_over()
        self._put(_END)
        while self._thread.is_alive():
            self._thread.join(_POLL)
        self._raise_if_failed()

    def commit(self) -> dict[str, Any]:
        """Publish the child's manifest (the family commits the parent after it)."""
        result = self.result
        self._count_requests()
        manifest = self.writer.commit(
            {
                "pages": result.pages,
                "retries": result.retries,
                "requests": result.requests,
                "parent_values": self.parent_values,
            }
        )
        info = manifest.to_dict()
        result.records = int(info["records"])
        result.files = list(info.get("files", []))
        result.bytes = sum(int(f.get("bytes", 0)) for f in result.files)
        result.location = str(info["location"])
        self._finished()
        return {"export": self.export.name, "snapshot": info["snapshot"], "records": result.records}

    def abort(self, reason: str, interrupted: bool) -> None:
        """The family failed: stop the searches, mark the snapshot incomplete (when it is not
        committed yet), say why in the result."""
        self._cancelled.set()
        if self._thread.is_alive():
            self._thread.join()
        own = self._error is not None and not isinstance(self._error, Interrupted)
        if self.result.error is None:
            self.result.error = (
                describe(self._error)
                if own and self._error is not None
                else f"its parent {self.link.export!r} failed, so this snapshot is not "
                f"committed with it: {reason}"
            )
            self.result.error_type = (
                type(self._error).__name__ if own else "Interrupted" if interrupted else "Failed"
            )
        self._count_requests()
        if self.writer is not None:
            self.result.records = self.writer.records_written
            with self._write_lock, contextlib.suppress(Exception):
                self.writer.abort(
                    self.result.error, status="interrupted" if interrupted else "failed"
                )
        self._finished()

    # -- the child's side (its own thread and the search pool) -------------------------------

    def _consume(self) -> None:
        try:
            while True:
                batch = self._get()
                if batch is _END:
                    return
                self._search_batch(batch)
        except BaseException as exc:
            self._error = exc

    def _search_batch(self, batch: list[Any]) -> None:
        self.parent_values += len(batch)
        filters = self.dialect.parent_filters(
            self.endpoint, self.link.filter_field, batch, self.run.spec.source.server_version
        )
        searches = [replace(self.export, filter={**self.export.filter, **f}) for f in filters]
        futures = [self.search_pool.submit(self._search, search) for search in searches]
        try:
            for future in futures:
                future.result()
        finally:
            for future in futures:  # after a failure, the rest of the batch is not sent
                future.cancel()

    def _search(self, search: ExportSpec) -> None:
        """One child search, paged completely into the snapshot."""
        if self._cancelled.is_set():
            return
        self.run.stop.check()
        paginator = make_paginator(self.endpoint, search)
        for page in iter_pages(self.run.client, self.endpoint, paginator, self.search_stats):
            if self._cancelled.is_set():
                return
            items = page.items or []
            self.hydrator.hydrate(items, self.lookup_stats)
            with self._write_lock:
                self.writer.write_page(items, None)
                self.result.pages += 1
                self.run.reporter.page_done(
                    self.export.name,
                    records=self.writer.records_written,
                    pages=self.result.pages,
                    total=None,
                    retries=self.search_stats.retries + self.lookup_stats.retries,
                )
            self.run.stop.check()

    # -- hand-over ---------------------------------------------------------------------------

    def _hand_over(self) -> None:
        batch, self._pending, self._seen = self._pending, [], set()
        self._put(batch)

    def _put(self, item: Any) -> None:
        while True:
            self._raise_if_failed()
            self.run.stop.check()
            try:
                self._batches.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def _get(self) -> Any:
        while True:
            if self._cancelled.is_set():
                return _END
            self.run.stop.check()
            try:
                return self._batches.get(timeout=_POLL)
            except queue.Empty:
                continue

    def _raise_if_failed(self) -> None:
        error = self._error
        if error is None:
            return
        if isinstance(error, Interrupted):
            raise error
        raise DependentFailed(f"dependent export {self.export.name!r} failed: {describe(error)}")

    def _count_requests(self) -> None:
        self.result.retries = self.search_stats.retries + self.lookup_stats.retries
        self.result.requests = self.search_stats.requests + self.lookup_stats.requests

    def _finished(self) -> None:
        if self._reported:
            return
        self._reported = True
        self.result.seconds = time.monotonic() - self._started
        self.run.reporter.export_finished(self.result)
