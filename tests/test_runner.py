"""run_job end to end against the simulator: snapshots on disk equal the truth."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from exporter.errors import UsageError
from exporter.pipeline.progress import JsonReporter, LogLineReporter, QuietReporter
from exporter.pipeline.runner import RunOptions, RunResult, run_job
from exporter.simulator import FaultConfig, Simulator
from exporter.sinks import INCOMPLETE_NAME, MANIFEST_NAME
from exporter.spec import ExportSpec, JobSpec, OutputSpec, RetrySpec, SortSpec, SourceSpec

FAST_RETRY = RetrySpec(max_attempts=10, initial_backoff_seconds=0.001, max_backoff_seconds=0.01)


def job(
    base_url: str,
    out: Path,
    *exports: ExportSpec,
    concurrency: int = 3,
    timeout: float = 10.0,
) -> JobSpec:
    return JobSpec(
        # v1 pinned: these tests count the exact requests of v1 exports (auto adds a probe).
        source=SourceSpec(base_url=base_url, api="v1", retry=FAST_RETRY, timeout_seconds=timeout),
        exports=exports,
        output=OutputSpec(format="jsonl", path=str(out), schema="native"),
        concurrency=concurrency,
        hydration_concurrency=4,
        digest="test",
    )


def read_snapshot(location: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for part in sorted(Path(location).glob("part-*.jsonl")):
        records.extend(orjson.loads(line) for line in part.read_bytes().splitlines())
    return records


def by_name(result: RunResult) -> dict[str, Any]:
    return {r.name: r for r in result.exports}


ALL_EIGHT = (
    ExportSpec(endpoint="process-definitions", name="pd", page_size=5, include_xml=True),
    ExportSpec(endpoint="process-instances", name="pi", page_size=40),
    ExportSpec(
        endpoint="process-instances",
        name="pi-by-start",
        page_size=40,
        sort=(SortSpec("startDate", "DESC"),),
        filter={"state": "COMPLETED"},
    ),
    ExportSpec(endpoint="incidents", name="inc", page_size=4),
    ExportSpec(endpoint="flownode-instances", name="fni", page_size=200),
    ExportSpec(endpoint="variables", name="var", page_size=150),
    ExportSpec(endpoint="decision-definitions", name="dd", page_size=5),
    ExportSpec(endpoint="decision-requirements", name="drd", page_size=4, include_xml=True),
    ExportSpec(
        endpoint="decision-instances", name="di", page_size=30, include_evaluation_details=True
    ),
)


def test_all_eight_endpoints_end_up_on_disk_exactly(simulator: Simulator, tmp_path: Path) -> None:
    spec = job(simulator.base_url, tmp_path, *ALL_EIGHT)
    result = run_job(spec, RunOptions(), QuietReporter())
    assert result.ok, [r.error for r in result.failed]
    results = by_name(result)
    for export in ALL_EIGHT:
        r = results[export.name]
        records = read_snapshot(r.location)
        truth = simulator.dataset.records(export.endpoint)
        if export.name == "pi-by-start":
            truth = [t for t in truth if t["state"] == "COMPLETED"]
            truth.sort(key=lambda t: t["key"])
            truth.sort(key=lambda t: t["startDate"], reverse=True)  # same offset everywhere
        if export.include_xml:
            field = "bpmnXml" if export.endpoint == "process-definitions" else "dmnXml"
            for record in records:
                assert record.pop(field) == simulator.dataset.xml(export.endpoint, record["key"])
        assert records == truth, export.name
        assert r.records == len(truth)
        assert sum(f["rows"] for f in r.files) == len(truth)
        assert r.bytes == sum(f["bytes"] for f in r.files) > 0
        assert r.pages == len(truth) // export.page_size + 1
        assert r.total_reported == len(truth)
        assert r.requests >= r.pages


def test_one_failing_export_does_not_corrupt_the_others(
    simulator: Simulator, tmp_path: Path
) -> None:
    bad = ExportSpec(
        endpoint="incidents", name="bad", page_size=3, sort=(SortSpec("notAField", "ASC"),)
    )
    good = ExportSpec(endpoint="variables", name="good", page_size=100)
    result = run_job(job(simulator.base_url, tmp_path, bad, good), RunOptions(), QuietReporter())
    assert not result.ok
    results = by_name(result)
    assert results["bad"].error_type == "ApiError"
    assert "Sort has invalid field(s): notAField" in results["bad"].error
    assert results["bad"].location is None
    assert results["good"].ok
    assert read_snapshot(results["good"].location) == simulator.dataset.records("variables")
    # The failed export left no manifest anywhere.
    assert not list((tmp_path / "bad").rglob(MANIFEST_NAME))
    assert list((tmp_path / "bad").rglob(INCOMPLETE_NAME))
    assert (Path(results["good"].location) / MANIFEST_NAME).is_file()


def test_max_records_and_only(simulator: Simulator, tmp_path: Path) -> None:
    exports = (
        ExportSpec(endpoint="flownode-instances", name="fni", page_size=100, max_records=250),
        ExportSpec(endpoint="variables", name="var", page_size=100),
    )
    simulator.reset_stats()
    result = run_job(job(simulator.base_url, tmp_path, *exports), RunOptions(only=("fni",)))
    assert [r.name for r in result.exports] == ["fni"]
    records = read_snapshot(result.exports[0].location)
    assert records == simulator.dataset.records("flownode-instances")[:250]
    assert simulator.stats()["items_served"] == 250
    assert not (tmp_path / "var").exists()
    with pytest.raises(UsageError, match="unknown export"):
        run_job(job(simulator.base_url, tmp_path, *exports), RunOptions(only=("nope",)))


def test_dry_run_writes_nothing_and_reports_body_and_total(
    make_simulator: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = make_simulator(scale=2500, seed=3)  # > 10,000 flow node instances
    exports = (
        ExportSpec(endpoint="flownode-instances", name="fni", page_size=500),
        ExportSpec(
            endpoint="process-instances",
            name="pi",
            filter={"state": "ACTIVE"},
            sort=(SortSpec("startDate"),),
        ),
    )
    sim.reset_stats()
    result = run_job(job(sim.base_url, tmp_path / "out", *exports), RunOptions(dry_run=True))
    assert result.ok
    assert not (tmp_path / "out").exists()
    fni, pi = result.exports
    assert fni.total_reported == 10_000
    assert fni.request_body == {"size": 500}
    assert pi.request_body == {
        "filter": {"state": "ACTIVE"},
        "size": 1000,
        "sort": [{"field": "startDate", "order": "ASC"}],
    }
    active = [r for r in sim.dataset.records("process-instances") if r["state"] == "ACTIVE"]
    assert pi.total_reported == len(active)
    assert sim.stats()["items_served"] == 2  # one item per probe


def test_json_reporter_lines_parse(simulator: Simulator, tmp_path: Path) -> None:
    stream = io.StringIO()
    reporter = JsonReporter(stream, interval=0.0)
    export = ExportSpec(endpoint="incidents", name="inc", page_size=5)
    run_job(job(simulator.base_url, tmp_path, export), RunOptions(), reporter)
    events = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "export_started"
    assert kinds.count("progress") == 3  # 14 incidents in pages of 5
    assert kinds[-2:] == ["export_finished", "run_finished"]
    assert events[-2]["records"] == 14
    assert events[-1]["ok"] is True


def test_log_line_reporter_without_a_tty(simulator: Simulator, tmp_path: Path) -> None:
    stream = io.StringIO()
    export = ExportSpec(endpoint="incidents", name="inc", page_size=5)
    run_job(job(simulator.base_url, tmp_path, export), RunOptions(), LogLineReporter(stream))
    lines = stream.getvalue().splitlines()
    assert any("export=inc endpoint=incidents started" in line for line in lines)
    assert any("export=inc ok records=14 pages=3 retries=0" in line for line in lines)
    assert "\x1b[" not in stream.getvalue()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_reporter_redraws_in_place_only_on_a_tty(
    simulator: Simulator, tmp_path: Path
) -> None:
    from exporter.pipeline.progress import TerminalReporter, choose_reporter

    stream = _Tty()
    reporter = choose_reporter(stream=stream)
    assert isinstance(reporter, TerminalReporter)
    assert isinstance(choose_reporter(stream=io.StringIO()), LogLineReporter)
    exports = (
        ExportSpec(endpoint="incidents", name="inc", page_size=5),
        ExportSpec(endpoint="decision-definitions", name="dd", page_size=5),
    )
    run_job(job(simulator.base_url, tmp_path, *exports), RunOptions(), reporter)
    text = stream.getvalue()
    assert "\x1b[2F" in text  # moved back up over the two-line block
    final_block = text.rsplit("\x1b[2F", 1)[-1]
    inc_line, dd_line = final_block.splitlines()[:2]
    assert "14/14 records" in inc_line and inc_line.rstrip().endswith("ok")
    assert dd_line.replace("\x1b[2K", "").startswith("dd ")


def _lookup_job(base_url: str, out: Path, concurrency: int, exports: tuple[ExportSpec, ...]):
    return JobSpec(
        source=SourceSpec(base_url=base_url, api="v1"),
        exports=exports,
        output=OutputSpec(format="jsonl", path=str(out), schema="native"),
        concurrency=concurrency,
        hydration_concurrency=3,
        digest="test",
    )


def test_hydration_lookups_are_bounded_per_export_running_at_once(
    make_simulator: Any, tmp_path: Path
) -> None:
    """Lookups in flight never exceed hydration_concurrency x exports running at once, and the
    one export that has lookups may use the share of the export that has none."""
    sim = make_simulator(scale=60, seed=3, variable_threshold=8, faults=FaultConfig(latency_ms=30))
    variables = ExportSpec(endpoint="variables", name="vars", page_size=200)
    incidents = ExportSpec(endpoint="incidents", name="inc")
    truncated = sum(1 for v in sim.dataset.search_view("variables") if v.get("truncated"))
    assert truncated > 50  # enough lookups to saturate any pool below

    sequential = run_job(_lookup_job(sim.base_url, tmp_path / "a", 1, (variables, incidents)))
    assert sequential.ok
    # One export at a time: its own 3 lookups, plus at most one prefetching search.
    assert sim.stats()["max_in_flight"] <= 3 + 1
    sim.reset_stats()
    together = run_job(_lookup_job(sim.base_url, tmp_path / "b", 2, (variables, incidents)))
    assert together.ok
    in_flight = sim.stats()["max_in_flight"]
    # >= 6 needs at least 4 lookups at once (2 exports add at most 2 searches), i.e. the
    # variables export borrowed the idle share; never more than 2 x 3 lookups + 2 searches.
    assert 6 <= in_flight <= 2 * 3 + 2
    assert read_snapshot(together.exports[0].location) == sim.dataset.records("variables")
