"""Sharded exports (issue 17): the union of the shards is the unsharded export exactly, on every
endpoint of both APIs, with empty shards and records exactly at shard boundaries; the run's cap
on requests in flight holds; finished shards are not run again on resume; specs that cannot be
sharded are refused with the reason."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from exporter.api import get_dialect, get_endpoint, make_paginator
from exporter.api.shards import Shard, bounded, cut_points
from exporter.api.validation import load_spec
from exporter.errors import SpecError
from exporter.pipeline.fetch import iter_pages
from exporter.pipeline.interrupt import StopFlag
from exporter.pipeline.progress import QuietReporter
from exporter.pipeline.runner import RunOptions, run_job
from exporter.simulator.faults import FaultConfig
from exporter.spec import ExportSpec, JobSpec, OutputSpec, SortSpec, SourceSpec
from exporter.transport.client import ApiClient

# Per API, the endpoints a spec may shard and the sort that makes them shardable.
SHARDABLE = {
    "v1": {
        "process-definitions": (),
        "process-instances": (),
        "incidents": (),
        "flownode-instances": (),
        "variables": (),
        "decision-definitions": (),
        "decision-requirements": (),
        "decision-instances": (SortSpec("evaluationDate", "ASC"),),
    },
    "v2": {
        "process-instances": (),
        "flownode-instances": (),
        "incidents": (),
        "decision-instances": (),
        "user-tasks": (),
    },
}


def job(url: str, api: str, out: Path, exports: tuple[ExportSpec, ...], **kw: Any) -> JobSpec:
    fmt = kw.pop("format", "jsonl")
    return JobSpec(
        source=SourceSpec(base_url=url, api=api, max_in_flight=kw.pop("max_in_flight", 8)),
        exports=exports,
        output=OutputSpec(format=fmt, path=str(out), rows_per_file=kw.pop("rows_per_file", 10**6)),
        concurrency=2,
        digest="test",
        **kw,
    )


def rows(manifest_dir: str) -> list[bytes]:
    """The snapshot's records as sorted canonical JSON lines (duplicates kept)."""
    manifest = orjson.loads(Path(manifest_dir, "_manifest.json").read_bytes())
    out: list[bytes] = []
    for part in manifest["files"]:
        path = Path(manifest_dir, part["name"])
        if path.suffix == ".parquet":
            records = pq.read_table(path).to_pylist()
        else:
            records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        out.extend(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records)
    assert sum(p["rows"] for p in manifest["files"]) == manifest["records"] == len(out)
    return sorted(out)


def export_both_ways(
    url: str, api: str, tmp: Path, export: ExportSpec, shards: int | str, **kw: Any
) -> tuple[list[bytes], list[bytes], dict[str, Any]]:
    plain = run_job(job(url, api, tmp / "plain", (export,), **kw))
    sharded_export = dataclasses.replace(export, shards=shards)
    sharded = run_job(job(url, api, tmp / "sharded", (sharded_export,), **kw))
    assert plain.ok and sharded.ok, (plain.exports[0].error, sharded.exports[0].error)
    location = sharded.exports[0].location
    assert location is not None and plain.exports[0].location is not None
    manifest = orjson.loads(Path(location, "_manifest.json").read_bytes())
    return rows(plain.exports[0].location), rows(location), manifest


# -- the plan's arithmetic ------------------------------------------------------------------


@pytest.mark.parametrize(
    "spans,count",
    [([(0, 99)], 4), ([(5, 5)], 3), ([(0, 9), (100, 109), (1000, 1000)], 7), ([], 5)],
)
def test_cuts_tile_every_value_once(spans: list[tuple[int, int]], count: int) -> None:
    cuts = cut_points(spans, count)
    assert len(cuts) == count - 1 and cuts == sorted(cuts)
    for value in [-(2**63), -1, *(v for lo, hi in spans for v in range(lo, hi + 1)), 2**63 - 1]:
        owners = [
            i
            for i in range(count)
            if (lambda lo, hi: (lo is None or value >= lo) and (hi is None or value < hi))(
                *bounded(cuts, i)
            )
        ]
        assert len(owners) == 1, (value, cuts)


def test_cuts_spread_over_partitions_not_the_gaps_between() -> None:
    partition = 1 << 51
    spans = [(partition + 1, partition + 100), (2 * partition + 1, 2 * partition + 100)]
    assert cut_points(spans, 2) == [2 * partition + 1]


# -- exactness: every endpoint, both APIs ---------------------------------------------------


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_union_of_shards_equals_the_unsharded_export_on_every_endpoint(
    make_simulator: Any, tmp_path: Path, api: str
) -> None:
    sim = make_simulator(scale=120, seed=5, api=api)
    fmt = "parquet" if api == "v1" else "jsonl"  # v1 Parquet: pages cut from their raw bytes
    for name, sort in SHARDABLE[api].items():
        export = ExportSpec(endpoint=name, name=name, page_size=7, sort=sort)
        plain, sharded, manifest = export_both_ways(
            sim.base_url, api, tmp_path / name, export, 5, format=fmt
        )
        assert sharded == plain and len(set(sharded)) == len(sharded), name
        assert len(manifest["extra"]["shards"]) == 5
        assert sum(s["records"] for s in manifest["extra"]["shards"]) == len(plain)
    # The other format once per API (v1 JSONL: pages parsed; v2 Parquet).
    first = next(iter(SHARDABLE[api]))
    export = ExportSpec(endpoint=first, name="other", page_size=9, sort=SHARDABLE[api][first])
    other = "jsonl" if fmt == "parquet" else "parquet"
    plain, sharded, _ = export_both_ways(
        sim.base_url, api, tmp_path / "other", export, 3, format=other
    )
    assert sharded == plain


def test_v1_date_sort_shards_keep_records_without_the_date(
    make_simulator: Any, tmp_path: Path
) -> None:
    """endDate is null for running instances: they sort last, into the last (open) shard."""
    sim = make_simulator(scale=150, seed=11)
    export = ExportSpec(
        endpoint="process-instances",
        name="by-end",
        page_size=6,
        sort=(SortSpec("endDate", "DESC"),),
    )
    running = sum(1 for r in sim.dataset.records("process-instances") if not r.get("endDate"))
    assert running > 0
    plain, sharded, manifest = export_both_ways(sim.base_url, "v1", tmp_path, export, 4)
    assert sharded == plain and len(plain) == 150
    assert manifest["extra"]["shards"][-1]["records"] >= running


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_more_shards_than_records_leaves_empty_shards(
    make_simulator: Any, tmp_path: Path, api: str
) -> None:
    sim = make_simulator(scale=20, seed=2, api=api)
    endpoint = "incidents"
    export = ExportSpec(endpoint=endpoint, name="few", page_size=3)
    plain, sharded, manifest = export_both_ways(sim.base_url, api, tmp_path, export, 40)
    counts = [s["records"] for s in manifest["extra"]["shards"]]
    assert sharded == plain and sum(counts) == len(plain) < 40
    assert counts.count(0) >= 40 - len(plain)
    assert len(manifest["files"]) == 40  # an empty shard still has its (empty) part


@pytest.mark.parametrize("sort", [(), (SortSpec("key", "DESC"),)])
def test_records_exactly_at_a_boundary_belong_to_the_upper_shard(
    make_simulator: Any, sort: tuple[SortSpec, ...]
) -> None:
    """Shards cut at a record's own key, one below and one above it: each record is read by
    exactly one shard, the record at a cut by the shard that starts there."""
    sim = make_simulator(scale=40, seed=4)
    dialect = get_dialect("v1")
    endpoint = get_endpoint("flownode-instances", "v1")
    export = ExportSpec(endpoint="flownode-instances", name="fni", page_size=4, sort=sort)
    client = ApiClient(SourceSpec(base_url=sim.base_url, api="v1"))
    pages = iter_pages(client, endpoint, make_paginator(endpoint, export))
    every = [i["key"] for p in pages for i in p.items or []]
    sign = -1 if sort else 1
    at = every[len(every) // 2]
    for cut in (at - 1, at, at + 1):
        rank = sign * cut
        read = {}
        for shard in (Shard(0, None, rank), Shard(1, rank, None)):
            paginator = dialect.shard_paginator(endpoint, export, shard)
            read[shard.index] = [
                i["key"] for p in iter_pages(client, endpoint, paginator) for i in p.items or []
            ]
        assert all(sign * k < rank for k in read[0]) and all(sign * k >= rank for k in read[1])
        assert sorted(read[0] + read[1]) == sorted(every), cut
        assert (at in read[1]) == (sign * at >= rank) and (at in read[0]) != (at in read[1])
    empty = dialect.shard_paginator(endpoint, export, Shard(0, sign * at, sign * at))
    assert [i for p in iter_pages(client, endpoint, empty) for i in p.items or []] == []
    client.close()


# -- one run: the cap, resume per shard ---------------------------------------------------------


def test_shards_run_in_parallel_within_max_in_flight(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=200, seed=3, faults=FaultConfig(latency_ms=25))
    exports = (
        ExportSpec(endpoint="flownode-instances", name="fni", page_size=20, shards=8),
        ExportSpec(endpoint="variables", name="vars", page_size=20, shards=4),
    )
    result = run_job(job(sim.base_url, "v1", tmp_path, exports, max_in_flight=3))
    assert result.ok
    assert sim.stats()["max_in_flight"] == 3  # parallel, and never beyond the cap
    sim.reset_stats()
    result = run_job(job(sim.base_url, "v1", tmp_path / "b", exports[:1], max_in_flight=6))
    assert result.ok and 4 <= sim.stats()["max_in_flight"] <= 6


class _StopAfter(QuietReporter):
    def __init__(self, stop: StopFlag, pages: int) -> None:
        self.stop, self.left = stop, pages

    def page_done(self, name: str, **_: Any) -> None:
        self.left -= 1
        if self.left == 0:
            self.stop.request(15)


def test_an_interrupted_sharded_run_resumes_each_shard_from_its_checkpoint(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(scale=150, seed=8, faults=FaultConfig(latency_ms=5))
    export = ExportSpec(endpoint="flownode-instances", name="fni", page_size=10, shards=4)
    spec = job(sim.base_url, "v1", tmp_path, (export,), rows_per_file=10)
    stop = StopFlag()
    first = run_job(spec, RunOptions(), _StopAfter(stop, 12), stop=stop)
    assert not first.ok and first.exports[0].error_type == "Interrupted"
    (snapshot,) = (tmp_path / "fni").glob("snapshot=*")
    assert (snapshot / "_INCOMPLETE").exists() and not (snapshot / "_manifest.json").exists()
    assert list(snapshot.glob("_checkpoint-*.json"))  # durable parts of unfinished shards
    written = first.exports[0].records
    # A damaged checkpoint: that shard starts again (its own parts only), the others resume.
    damaged = sorted(snapshot.glob("_checkpoint-*.json"))[0]
    lost = orjson.loads(damaged.read_bytes())["records"]
    damaged.write_bytes(orjson.dumps({"parts": "?", "records": lost}))
    sim.reset_stats()
    second = run_job(spec, RunOptions(resume=True))
    assert second.ok and second.exports[0].location == str(snapshot)
    truth = sorted(r["key"] for r in sim.dataset.records("flownode-instances"))
    keys = [orjson.loads(line)["elementInstanceKey"] for line in _lines(snapshot)]
    assert sorted(int(k) for k in keys) == truth  # no duplicate, no gap
    # Finished pages are not fetched again: at most one page per shard re-read beyond them.
    served = sim.stats()["items_served"]
    assert written > 0 and served <= len(truth) - written + lost + 8 * 10


def _lines(snapshot: Path) -> list[bytes]:
    manifest = orjson.loads((snapshot / "_manifest.json").read_bytes())
    return [
        line for f in manifest["files"] for line in (snapshot / f["name"]).read_bytes().splitlines()
    ]


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_incremental_windows_are_sharded_too(make_simulator: Any, tmp_path: Path, api: str) -> None:
    from exporter.spec import IncrementalSpec

    sim = make_simulator(scale=120, seed=9, api=api)
    window = IncrementalSpec(
        field="startDate", lag=0, start="2026-11-01T00:00:00Z", window=7 * 86400
    )
    export = ExportSpec(endpoint="process-instances", name="pi", page_size=5, incremental=window)
    plain = run_job(job(sim.base_url, api, tmp_path / "plain", (export,)))
    sharded_export = dataclasses.replace(export, shards=3)
    sharded = run_job(job(sim.base_url, api, tmp_path / "sharded", (sharded_export,)))
    assert plain.ok and sharded.ok and len(plain.exports) == len(sharded.exports) > 1
    union = sorted(r for e in sharded.exports for r in rows(str(e.location)))
    assert union == sorted(r for e in plain.exports for r in rows(str(e.location)))
    assert union and len(set(union)) == len(union)


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "api,export,reason",
    [
        ("v1", "{endpoint: incidents, shards: 4, max_records: 10}", "max_records"),
        ("v1", "{endpoint: incidents, shards: 2, sort: [{field: state}]}", "'state' (enum)"),
        (
            "v1",
            "{endpoint: incidents, shards: 2, sort: [{field: key}, {field: creationTime}]}",
            "sorts by 2 fields",
        ),
        ("v1", "{endpoint: decision-instances, shards: auto}", "text id 'id'"),
        ("v2", "{endpoint: variables, shards: 3}", "variables has no sortable creation date"),
        (
            "v1",
            "{endpoint: process-instances, name: pi, shards: 2}, {endpoint: variables, "
            "parent: {export: pi, field: key, filter_field: processInstanceKey}}",
            "depends on 'pi', which has shards",
        ),
        (
            "v1",
            "{endpoint: process-instances, name: pi}, {endpoint: variables, shards: 2, "
            "parent: {export: pi, field: key, filter_field: processInstanceKey}}",
            "a dependent export cannot be sharded",
        ),
        (
            "v2",
            "{endpoint: process-instances, shards: 3, "
            "filter: {startDate: {$gte: '2026-01-01T00:00:00Z'}}}",
            "filters 'startDate'",
        ),
    ],
)
def test_unshardable_exports_are_refused_with_the_reason(
    tmp_path: Path, api: str, export: str, reason: str
) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(
        f"version: 1\nsource: {{base_url: 'http://localhost:1', api: {api}}}\nexports: [{export}]\n"
    )
    with pytest.raises(SpecError) as info:
        load_spec(path)
    problems = [str(p) for p in info.value.problems]
    assert any("exports[" in p and reason in p for p in problems), problems
