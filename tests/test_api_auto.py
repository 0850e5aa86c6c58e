"""``source.api: auto`` picks v2 on a v2 server and v1 on a v1-only server, and says why."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from exporter.errors import SpecError
from exporter.runner import RunOptions, run_job
from exporter.sinks import MANIFEST_NAME
from exporter.spec import ExportSpec, JobSpec, OutputSpec, RetrySpec, SourceSpec
from tests.test_runner import read_snapshot


def auto_job(base_url: str, out: Path, *exports: ExportSpec) -> JobSpec:
    return JobSpec(
        source=SourceSpec(base_url=base_url, retry=RetrySpec(max_attempts=2)),
        exports=exports,
        output=OutputSpec(format="jsonl", path=str(out)),
        digest="test",
    )


INCIDENTS = ExportSpec(endpoint="incidents", name="inc", page_size=3)


@pytest.mark.parametrize(("serves", "chosen"), [("v2", "v2"), ("both", "v2"), ("v1", "v1")])
def test_auto_prefers_v2_and_falls_back_to_v1(
    make_simulator: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, serves: str, chosen: str
) -> None:
    sim = make_simulator(scale=20, api=serves)
    assert auto_job(sim.base_url, tmp_path, INCIDENTS).source.api == "auto"
    with caplog.at_level(logging.INFO, logger="exporter"):
        result = run_job(auto_job(sim.base_url, tmp_path, INCIDENTS), RunOptions())
    assert result.ok, [r.error for r in result.failed]
    (export,) = result.exports
    assert read_snapshot(export.location) == sim.dataset.records("incidents", api=chosen)
    manifest = (Path(export.location) / MANIFEST_NAME).read_text()
    assert f'"api_version":"{chosen}"' in manifest.replace(" ", "")
    said = [r.getMessage() for r in caplog.records if "api auto" in r.getMessage()]
    assert said == [said[0]] and f"chose {chosen}" in said[0]  # once per run, with the reason
    assert ("answered 404" in said[0]) == (chosen == "v1")


def test_auto_refuses_a_v2_only_export_on_a_v1_server(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=5, api="v1")
    with pytest.raises(SpecError) as info:
        run_job(auto_job(sim.base_url, tmp_path, ExportSpec(endpoint="jobs", name="j")))
    assert "probed as API v1" in str(info.value) and "needs api: v2" in str(info.value)
    assert not list(tmp_path.iterdir())  # nothing written


def test_auto_401_is_an_auth_error_not_a_fallback(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=5, api="both", auth="basic")
    job = auto_job(sim.base_url, tmp_path, INCIDENTS)
    result = run_job(job, RunOptions())
    (failed,) = result.failed
    assert failed.error_type == "AuthError"
    assert sim.stats()["searches"] == {}  # no export started paging
