"""Airflow DAG: one sharded operate-export run per schedule, plan -> N shards -> commit.

The shards are mapped tasks (dynamic task mapping: ``.expand``) over the shard numbers the plan
returns, so the scheduler runs them in parallel on its workers (``max_active_tis_per_dagrun``
bounds how many at once) and retries a failed shard alone: it continues from its checkpoint.
Every task of a DAG run uses that run's id as ``--run-id``, so the shards build one snapshot and
``commit`` publishes it once all have finished (it fails naming the shards that have not).

The workers need operate-export installed, the spec at ``SPEC`` (its big exports with
``shards: N`` or ``auto``), the output location they all see (a shared volume, or object
storage), and the credentials in their environment as the spec's ``${VAR}``s.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime

from airflow.decorators import dag, task

SPEC = "/etc/operate-export/job.yaml"
SHARDS = 8  # the N of --shard I/N: the spec's shards (or auto: any N)
COMMAND = "operate-export"


def run_id_of(airflow_run_id: str) -> str:
    """A --run-id from Airflow's run id (``scheduled__2026-12-01T02:15:00+00:00``)."""
    return re.sub(r"[^A-Za-z0-9._:+-]", "-", airflow_run_id)[:128]


@dag(
    schedule="15 2 * * *",
    start_date=datetime(2026, 12, 1),
    catchup=False,
    max_active_runs=1,
    tags=["operate-export"],
)
def operate_export_sharded() -> None:
    @task
    def plan(run_id: str | None = None) -> list[int]:
        """Store the plan with the run's snapshot; the shard numbers to map over."""
        out = subprocess.run(
            [
                COMMAND,
                "plan",
                SPEC,
                f"--shards={SHARDS}",
                f"--run-id={run_id_of(run_id or '')}",
                "--json",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        counts = {p["count"] for p in json.loads(out)}
        if counts != {SHARDS}:
            raise ValueError(f"the plans have {sorted(counts)} shards, not {SHARDS}")
        return list(range(SHARDS))

    @task(retries=3, max_active_tis_per_dagrun=SHARDS)
    def shard(index: int, run_id: str | None = None) -> None:
        subprocess.run(
            [
                COMMAND,
                "run",
                SPEC,
                f"--shard={index}/{SHARDS}",
                f"--run-id={run_id_of(run_id or '')}",
                "--log-format=json",
            ],
            check=True,
        )

    @task
    def commit(run_id: str | None = None) -> None:
        subprocess.run([COMMAND, "commit", SPEC, f"--run-id={run_id_of(run_id or '')}"], check=True)

    shards = shard.expand(index=plan())
    shards >> commit()


operate_export_sharded()
