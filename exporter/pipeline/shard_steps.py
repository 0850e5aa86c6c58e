"""The first and last steps of a sharded run across machines: ``operate-export plan`` (each
sharded export's plan, printed, and with ``--run-id`` stored as that run's snapshot) and
``operate-export commit`` (the manifest, once every shard has finished)."""

from __future__ import annotations

from exporter.api.shards import ShardPlan
from exporter.errors import UsageError
from exporter.pipeline.results import ExportResult
from exporter.pipeline.runner import _make_client, bind_api, select_exports
from exporter.pipeline.sharded import (
    check_shardable,
    plan_export,
    requested_count,
    snapshot_context,
)
from exporter.spec import ExportSpec, JobSpec


def _sharded(spec: JobSpec, only: tuple[str, ...]) -> tuple[ExportSpec, ...]:
    exports = tuple(e for e in select_exports(spec, only) if e.sharded)
    if not exports:
        raise UsageError("no sharded export selected (exports[].shards is 1 or absent)")
    return exports


def plan_job(
    spec: JobSpec,
    only: tuple[str, ...] = (),
    *,
    run_id: str | None = None,
    count: int | None = None,
) -> list[tuple[ShardPlan, str | None]]:
    """Each sharded export's plan (``count``: the N of ``--shard I/N`` for ``auto``); with
    ``run_id`` also stored as that run's snapshot (an existing one's plan is read back)."""
    from exporter.sinks.shards import run_snapshot

    exports = _sharded(spec, only)
    if run_id is not None:  # the plans the shards of run_id will run: as run --shard checks
        check_shardable(exports)
        for export in exports:
            requested_count(export, None if count is None else (0, count), f"--shards {count}")
    client = _make_client(spec)
    try:
        client.authenticate()
        spec, client = bind_api(spec, client, _make_client)
        bound = {e.name: e for e in spec.exports}
        plans: list[tuple[ShardPlan, str | None]] = []
        for name in (e.name for e in exports):
            export = bound[name]
            if run_id is None:
                plans.append((plan_export(spec, export, client, count), None))
                continue
            ctx = snapshot_context(spec, export, run_id)
            snapshot = run_snapshot(
                ctx, run_id, lambda e=export: plan_export(spec, e, client, count)
            )
            plans.append((snapshot.plan, snapshot.location))
        return plans
    finally:
        client.close()


def commit_job(spec: JobSpec, run_id: str, only: tuple[str, ...] = ()) -> list[ExportResult]:
    """Publish the manifest of each sharded export's snapshot of run ``run_id`` (every shard
    must have finished: ``ShardsMissing`` names those that did not, exit 1)."""
    from exporter.api.validation import resolve_api
    from exporter.errors import OutputError
    from exporter.pipeline.tables import update_tables_locked
    from exporter.sinks.shards import find_run_snapshot, stored_api

    results = []
    for export in _sharded(spec, only):
        api = spec.source.api
        if api == "auto":
            api = stored_api(spec.output, export.name, run_id) or api
        bound = resolve_api(spec, api) if api != spec.source.api else spec
        export = next(e for e in bound.exports if e.name == export.name)
        snapshot = find_run_snapshot(snapshot_context(bound, export, run_id), run_id)
        if snapshot is None:
            raise OutputError(
                f"export {export.name!r}: no shard of run {run_id} has started in "
                f"{spec.output.path} (run them with run --shard I/N --run-id {run_id})"
            )
        manifest = snapshot.commit({"committed_by": "operate-export commit"}).to_dict()
        result = ExportResult(name=export.name, endpoint=export.endpoint)
        result.records = int(manifest["records"])
        result.files = list(manifest["files"])
        result.bytes = sum(int(f.get("bytes", 0)) for f in result.files)
        result.location = snapshot.location
        results.append(result)
    # The snapshots of the shards' run are complete now: their tables take them (issue 20).
    update_tables_locked(spec, _sharded(spec, only), results, run_id)
    return results
