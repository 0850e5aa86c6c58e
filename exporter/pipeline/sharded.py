"""A sharded export (issue 17): plan, run the shards in parallel, commit one snapshot.

* **Plan.** The dialect cuts the export into shards that tile it (``api/shards.py``); the plan
  is stored with the snapshot before any shard runs, so every shard of the snapshot, in this
  process or another, reads the same plan.
* **In one run** (``shards: N``) the shards run on their own threads, each an
  ``ExportPipeline`` writing its parts, checkpoint and marker into the one snapshot; the
  ``ApiClient`` they share holds the run's requests in flight to ``source.max_in_flight``.
  When they have all finished the manifest is written; a failed or interrupted shard leaves the
  snapshot incomplete, and ``--resume`` runs only the shards without a marker, each from its
  checkpoint.
* **Across machines** (``run --shard I/N --run-id ID``) this process runs shard I only, into
  the snapshot run ID names; ``commit --run-id ID`` writes the manifest.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from exporter.api import dialect_of, get_endpoint
from exporter.api.shards import AUTO, ShardPlan, shard_count
from exporter.errors import UsageError
from exporter.pipeline.export import ExportPipeline, RunContext, describe
from exporter.pipeline.interrupt import Interrupted
from exporter.pipeline.results import ExportResult
from exporter.spec import ExportSpec, JobSpec
from exporter.version import __version__

log = logging.getLogger(__name__)


def requested_count(
    export: ExportSpec, shard: tuple[int, int] | None, option: str | None = None
) -> int | None:
    """The shard count ``--shard I/N`` asks for; a spec's fixed count must be the same."""
    if shard is None:
        return None
    index, count = shard
    if export.shards != AUTO and int(export.shards) != count:
        asked = option or f"--shard {index}/{count}"
        raise UsageError(
            f"{asked}: export {export.name!r} has shards: {export.shards}; its shards are "
            f"run as --shard I/{export.shards}"
        )
    return count


def check_shard_run(exports: tuple[ExportSpec, ...], shard: tuple[int, int] | None) -> None:
    """``run --shard I/N`` runs one shard of sharded, non-incremental exports (exit 2 else)."""
    if shard is None:
        return
    index, count = shard
    if not 0 <= index < count:
        raise UsageError(f"--shard {index}/{count}: the index must be 0..{count - 1}")
    check_shardable(exports)
    for export in exports:
        requested_count(export, shard)


def check_shardable(exports: tuple[ExportSpec, ...]) -> None:
    """Every export a shard of a run across machines runs is sharded and not incremental."""
    unsharded = [e.name for e in exports if not e.sharded]
    if unsharded:
        raise UsageError(
            f"--shard runs one shard of sharded exports; {', '.join(unsharded)} has no shards "
            "(select the sharded exports with --only)"
        )
    windowed = [e.name for e in exports if e.incremental is not None]
    if windowed:
        raise UsageError(
            f"--shard: {', '.join(windowed)} is incremental; its windows are planned per run "
            "from the manifests, so shard it within one run (shards: N without --shard)"
        )


def plan_export(
    spec: JobSpec, export: ExportSpec, client: Any, requested: int | None = None
) -> ShardPlan:
    """The export's shard plan (probes the server)."""
    endpoint = get_endpoint(export.endpoint, spec.source.api)
    count = shard_count(export.shards, spec.source.max_in_flight, requested)
    plan: ShardPlan = dialect_of(endpoint).plan_shards(
        client, endpoint, export, count, spec.source.server_version
    )
    return plan


def snapshot_context(
    spec: JobSpec, export: ExportSpec, run_id: str, window: dict[str, Any] | None = None
) -> Any:
    from exporter.sinks import SnapshotContext

    return SnapshotContext(
        export=export,
        endpoint=get_endpoint(export.endpoint, spec.source.api),
        output=spec.output,
        job_digest=spec.digest,
        api_version=spec.source.api,
        tool_version=__version__,
        incremental=window,
        run_id=run_id,
    )


class ShardedExport:
    """Runs the shards of one export (all of them, or ``options.shard``'s) into one snapshot."""

    def __init__(
        self, run: RunContext, export: ExportSpec, window: dict[str, Any] | None = None
    ) -> None:
        self.run_context = run
        self.export = export
        self.window = window
        self.result = ExportResult(name=export.name, endpoint=export.endpoint)
        if window is not None:
            self.result.window = f"[{window['from']}, {window['to']})"

    def run(self) -> ExportResult:
        started = time.monotonic()
        try:
            self._run()
        except Exception as exc:
            self.result.error = describe(exc)
            self.result.error_type = type(exc).__name__
        self.result.seconds = time.monotonic() - started
        return self.result

    def _open(self) -> tuple[Any, list[int]]:
        from exporter.sinks.shards import open_sharded, run_snapshot

        run = self.run_context
        options, spec = run.options, run.spec
        ctx = snapshot_context(spec, self.export, options.run_id, self.window)
        requested = requested_count(self.export, options.shard)

        def make_plan() -> ShardPlan:
            return plan_export(spec, self.export, run.client, requested)

        if options.shard is None:
            snapshot = open_sharded(ctx, make_plan, resume=options.resume)
            return snapshot, snapshot.missing()
        index, count = options.shard
        snapshot = run_snapshot(ctx, options.run_id, make_plan)
        if snapshot.plan.count != count:
            raise UsageError(
                f"--shard {index}/{count}: run {options.run_id}'s plan of export "
                f"{self.export.name!r} has {snapshot.plan.count} shards"
            )
        done = index not in snapshot.missing()
        if done:
            log.info("%s: shard %d/%d already finished", self.export.name, index, count)
        return snapshot, [] if done else [index]

    def _run(self) -> None:
        run = self.run_context
        run.stop.check()
        snapshot, indices = self._open()
        self.result.location = snapshot.location
        results = self._shards(snapshot, indices)
        result = self.result
        for shard_result in results:
            result.records += shard_result.records
            result.pages += shard_result.pages
            result.requests += shard_result.requests
            result.retries += shard_result.retries
        failed = [r for r in results if r.error]
        if failed:
            first = failed[0]
            result.error = f"{first.name}: {first.error}"
            if len(failed) > 1:
                result.error += f" (and {len(failed) - 1} more failed shard(s))"
            result.error_type = first.error_type
            status = "interrupted" if first.error_type == Interrupted.__name__ else "failed"
            snapshot.mark(status, result.error)
            return
        if run.options.shard is not None:
            result.records = sum(int(d["records"]) for d in snapshot.finished().values())
            return  # across machines: ``commit`` writes the manifest
        manifest = snapshot.commit().to_dict()
        result.records = int(manifest["records"])
        result.files = list(manifest["files"])
        result.bytes = sum(int(f.get("bytes", 0)) for f in result.files)

    def _shards(self, snapshot: Any, indices: list[int]) -> list[ExportResult]:
        if not indices:
            return []

        def one(index: int) -> ExportResult:
            pipeline = ExportPipeline(
                self.run_context, self.export, self.window, shard=(snapshot, index)
            )
            return pipeline.run()

        with ThreadPoolExecutor(len(indices), thread_name_prefix="shard") as pool:
            return list(pool.map(one, indices))
