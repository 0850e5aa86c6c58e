"""Current-state tables on the S3 test server (issue 20 points 3 and 4): the live run sequence
gives the same table as on local disk; two writers racing for one table version through S3's
conditional put: the loser reloads and retries, or after its attempts fails with an error
naming the table, and the table stays whole either way."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from tables_helpers import TABLE, check_table, covered_by, table_spec

from exporter import load_spec, run_job
from exporter.errors import OutputError
from exporter.sinks.manifests import complete_manifests
from exporter.sinks.table import COMMIT_ATTEMPTS, CurrentStateTable, snapshot_refs


def s3_spec(sim: Any, path: str) -> dict[str, Any]:
    document = table_spec(sim.base_url, path, "v2")
    # One snapshot at a time: two windows starting in the same second would claim the same
    # snapshot directory on an object store (no exclusive create there yet, issue 18).
    document["concurrency"] = 1
    return document


def s3_output(s3_server: Any) -> tuple[str, dict[str, str]]:
    """An output.path on a fresh bucket (the server's address in the URI's query, as pyarrow
    takes it) and the storage options a deltalake reader needs."""
    bucket = s3_server.new_bucket()
    options = s3_server.storage_options
    path = (
        f"s3://{bucket}/out?endpoint_override={options['endpoint_override']}"
        f"&scheme={options['scheme']}&region={options['region']}"
    )
    reader = {"AWS_ENDPOINT_URL": s3_server.endpoint_url, "AWS_ALLOW_HTTP": "true"}
    return path, reader


def manifests(s3_server: Any, bucket: str, export: str) -> list[dict[str, Any]]:
    client = s3_server.client()
    found = []
    for key in s3_server.keys(bucket, f"out/{export}/"):
        if key.endswith("/_manifest.json"):
            found.append(orjson.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read()))
    return found


def operations(s3_server: Any, table: CurrentStateTable) -> list[str]:
    """The operation of each commit of ``table``, oldest first, read from its log objects
    (moto's server answers deltalake's own history listing, with start-after, too slowly)."""
    bucket, prefix = table.uri[len("s3://") :].split("/", 1)
    client = s3_server.client()
    found = []
    for key in s3_server.keys(bucket, f"{prefix}/_delta_log/"):
        if key.endswith(".json"):
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            for line in body.splitlines():
                action = orjson.loads(line)
                if "commitInfo" in action:
                    found.append(action["commitInfo"]["operation"])
    return found


def run_sequence(sim: Any, spec: Any, runs: int) -> list[int]:
    clocks = []
    for step in range(runs):
        if step:
            sim.clock.advance("PT50M")
        clocks.append(sim.now())
        result = run_job(spec)
        assert result.ok, [e.error for e in result.exports]
    return clocks


def test_run_sequence_into_a_table_on_s3(make_simulator: Any, s3_server: Any) -> None:
    sim = make_simulator(scale=60, seed=11, live=True, api="both", late_fraction=0.3)
    path, reader = s3_output(s3_server)
    bucket = path[len("s3://") :].split("/", 1)[0]
    spec = load_spec(s3_spec(sim, path))
    clocks = run_sequence(sim, spec, runs=3)
    table = DeltaTable(f"s3://{bucket}/out/_tables/{TABLE}", storage_options=reader)
    assert table.version() == len(clocks) - 1  # one commit per run
    span = covered_by(manifests(s3_server, bucket, "pi-finished"))
    assert check_table(sim, clocks, table, span) > 60
    keys = s3_server.keys(bucket, f"out/_tables/{TABLE}/_delta_log/")
    assert [k.rsplit("/", 1)[-1] for k in keys if k.endswith(".json")] == [
        f"{v:020d}.json" for v in range(len(clocks))
    ]


class RacedTable(CurrentStateTable):
    """A writer whose rival commits between its look at the table and its own commit (after
    ``read``, before the write), ``races`` times."""

    def __init__(self, *args: Any, rival: Any, races: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rival, self.races = rival, races

    def read(self, refs: Any) -> pa.Table:
        rows = super().read(refs)
        if self.races:
            self.races -= 1
            self.rival()
        return rows


@pytest.fixture
def s3_snapshots(make_simulator: Any, s3_server: Any) -> Any:
    """Two runs' snapshots of the two exports on S3 (no table yet) and their refs."""
    sim = make_simulator(scale=40, seed=2, live=True, api="both")
    path, reader = s3_output(s3_server)
    document = s3_spec(sim, path)
    del document["output"]["table"]
    for export in document["exports"]:
        del export["table"]
    spec = load_spec(document)
    run_sequence(sim, spec, runs=2)
    table = CurrentStateTable(spec.output, TABLE)
    refs = {
        name: snapshot_refs(table.location, name, complete_manifests(spec.output, name))
        for name in ("pi-finished", "pi-open")
    }
    return spec, reader, refs


def test_a_lost_commit_race_is_retried_with_what_is_still_pending(
    s3_snapshots: Any, s3_server: Any
) -> None:
    spec, reader, refs = s3_snapshots
    rival = CurrentStateTable(spec.output, TABLE)
    rival.update(refs["pi-open"][:1])  # the table exists: version 0
    everything = refs["pi-finished"] + refs["pi-open"]
    writer = RacedTable(spec.output, TABLE, rival=lambda: rival.update(refs["pi-open"]), races=1)
    commit = writer.update(everything, run_id="racer")
    assert commit.committed and commit.attempts == 2
    # the retry took only what the rival had not: the rival's snapshots are not taken twice
    assert sorted(commit.snapshots) == sorted(r.label for r in refs["pi-finished"])
    table = DeltaTable(writer.uri, storage_options=reader)
    assert table.version() == 2
    assert all(table.transaction_version(r.app_id) == 1 for r in everything)
    keys = table.to_pyarrow_table().column("processInstanceKey").to_pylist()
    assert len(keys) == len(set(keys)) > 0
    assert operations(s3_server, writer) == ["WRITE", "MERGE", "MERGE"]


def test_a_writer_that_keeps_losing_fails_naming_the_table(s3_snapshots: Any) -> None:
    spec, reader, refs = s3_snapshots
    rival = CurrentStateTable(spec.output, TABLE)
    rival.update(refs["pi-open"][:1])
    base = DeltaTable(rival.uri, storage_options=reader)
    empty = base.to_pyarrow_table().slice(0, 0)

    def rival_commit() -> None:
        write_deltalake(rival.uri, empty, mode="append", storage_options=reader)

    writer = RacedTable(spec.output, TABLE, rival=rival_commit, races=COMMIT_ATTEMPTS)
    with pytest.raises(OutputError, match=f"table '{TABLE}' .*another writer committed first"):
        writer.update(refs["pi-finished"])
    table = DeltaTable(writer.uri, storage_options=reader)
    assert table.version() == COMMIT_ATTEMPTS  # the rival's commits, nothing of the loser
    assert all(table.transaction_version(r.app_id) is None for r in refs["pi-finished"])
    assert table.to_pyarrow_table().equals(base.to_pyarrow_table())
