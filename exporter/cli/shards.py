"""``operate-export plan`` and ``commit``: the first and last steps of a sharded run across
machines (plan -> N x ``run --shard I/N --run-id ID`` -> commit), see README "Sharded exports".
"""

from __future__ import annotations

import os

import click
import orjson

from exporter.api.validation import load_spec
from exporter.errors import UsageError, redact_secrets

SHARD_INDEX_ENV = "JOB_COMPLETION_INDEX"  # Kubernetes Indexed Job


def parse_shard(shard: str | None, from_env: int | None) -> tuple[int, int] | None:
    """``--shard I/N``, or ``--shard-from-env N`` (I from $JOB_COMPLETION_INDEX)."""
    if shard is not None and from_env is not None:
        raise UsageError("--shard and --shard-from-env exclude each other")
    if from_env is not None:
        raw = os.environ.get(SHARD_INDEX_ENV)
        if raw is None or not raw.strip().isdigit():
            raise UsageError(
                f"--shard-from-env: ${SHARD_INDEX_ENV} is {'unset' if raw is None else repr(raw)};"
                " expected the shard index 0..N-1 (set by a Kubernetes Indexed Job)"
            )
        shard = f"{raw.strip()}/{from_env}"
    if shard is None:
        return None
    index, slash, count = shard.partition("/")
    if not slash or not index.isdigit() or not count.isdigit() or int(count) < 1:
        raise UsageError(f"--shard {shard!r}: expected I/N, e.g. 3/8 (shard 3 of 0..7)")
    if int(index) >= int(count):
        raise UsageError(f"--shard {shard}: the index must be 0..{int(count) - 1}")
    return int(index), int(count)


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=str))
@click.option("--only", "only", multiple=True, metavar="NAME", help="Plan only this export.")
@click.option(
    "--run-id",
    metavar="ID",
    help="Also store the plans as the snapshots of run ID (the first step of a scheduled "
    "sharded run; an existing run's plans are printed as stored).",
)
@click.option(
    "--shards",
    "count",
    type=click.IntRange(1, 1024),
    metavar="N",
    help="The shard count of exports with shards: auto (the N of run --shard I/N).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document of every plan.")
def plan(
    spec_path: str, only: tuple[str, ...], run_id: str | None, count: int | None, as_json: bool
) -> None:
    """Print the shard plan of each sharded export: deterministic for the same data.

    \b
    Example:
      operate-export plan job.yaml
      operate-export plan job.yaml --run-id nightly-2026-12-01 --json
    """
    from exporter.pipeline.shard_steps import plan_job

    spec = load_spec(spec_path)
    plans = plan_job(spec, tuple(only), run_id=run_id, count=count)
    if as_json:
        document = [{**p.to_dict(), "location": where} for p, where in plans]
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return
    for shard_plan, where in plans:
        stored = f" -> {where}" if where else ""
        click.echo(
            f"{shard_plan.export} ({shard_plan.endpoint}, {shard_plan.api}): "
            f"{shard_plan.count} shards, {shard_plan.method} of {shard_plan.field}{stored}"
        )
        for shard in shard_plan.shards:
            click.echo(redact_secrets(f"  {shard.index:>4}  {shard.label}"))


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=str))
@click.option("--run-id", required=True, metavar="ID", help="The run whose shards ran.")
@click.option("--only", "only", multiple=True, metavar="NAME", help="Commit only this export.")
def commit(spec_path: str, run_id: str, only: tuple[str, ...]) -> None:
    """Publish the snapshot of run ID once every shard has finished (else exit 1 naming the
    shards that have not).

    \b
    Example:
      operate-export commit job.yaml --run-id nightly-2026-12-01
    """
    from exporter.pipeline.shard_steps import commit_job

    spec = load_spec(spec_path)
    for result in commit_job(spec, run_id, tuple(only)):
        click.echo(
            f"{result.name}: {result.records} records in {len(result.files)} files "
            f"-> {result.location}"
        )
