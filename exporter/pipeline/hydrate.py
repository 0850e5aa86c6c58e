"""Completes what Operate's search results leave out, one page at a time (the hydrate stage).

What to look up is the dialect's business (``api/v1/hydration.py``, ``api/v2/hydration.py``);
this module runs the lookups of a page concurrently on the run's shared, bounded executor,
through the same ``ApiClient`` as the searches (same retry, auth and 401 handling). Page order is
kept: every item is patched in place at its position.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from exporter.api import dialect_of
from exporter.api.hydration import HydrationClient, Item, Lookup, Patch
from exporter.api.types import Endpoint
from exporter.pipeline.interrupt import StopFlag
from exporter.spec import ExportSpec


def needs_hydration(endpoint: Endpoint, export: ExportSpec) -> bool:
    """Whether this export makes any per-item requests at all."""
    return dialect_of(endpoint).needs_hydration(endpoint, export)


class Hydrator:
    """Per-export hydration plan; ``hydrate_page`` patches a page's items in place."""

    def __init__(
        self,
        client: HydrationClient,
        endpoint: Endpoint,
        export: ExportSpec,
        executor: Executor | None,
        *,
        stop: StopFlag | None = None,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.export = export
        self.executor = executor
        self._dialect = dialect_of(endpoint)
        self.enabled = self._dialect.needs_hydration(endpoint, export)
        self.stop = stop or StopFlag()

    def _lookup_for(self, item: Item) -> Lookup | None:
        return self._dialect.hydration_lookup(self.client, self.endpoint, self.export, item)

    def hydrate_page(self, items: list[Item], stats: Any = None) -> list[Item]:
        """Patch ``items`` in place (order kept); lookups count into ``stats`` (thread-safe)."""
        self.hydrate(items, stats)
        return items

    def hydrate(self, items: list[Item], stats: Any = None) -> bool:
        """``hydrate_page`` that says whether any item was patched (the page then differs from
        the raw search response, so the sink must not convert the raw bytes)."""
        if not self.enabled or not items:
            return False
        jobs = [(i, lookup) for i, item in enumerate(items) if (lookup := self._lookup_for(item))]
        if not jobs:
            return False
        if self.executor is None or len(jobs) == 1:
            patches = [self._run(lookup, stats) for _, lookup in jobs]
        else:
            futures = [self.executor.submit(self._run, lookup, stats) for _, lookup in jobs]
            try:
                patches = [f.result() for f in futures]
            finally:
                # On the first failure, don't leave the rest of the page queued on the pool.
                for f in futures:
                    f.cancel()
        for (index, _), patch in zip(jobs, patches, strict=True):
            items[index].update(patch)
        return True

    def _run(self, lookup: Lookup, stats: Any) -> Patch:
        # After a stop signal the lookups still queued on the pool end at once instead of each
        # sending its request: the page is abandoned anyway.
        self.stop.check()
        return lookup(stats)
