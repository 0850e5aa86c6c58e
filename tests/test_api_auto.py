"""``source.api: auto`` picks v2 on a v2 server and v1 on a v1-only server, and says why."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from exporter.api.validation import load_spec, parse_spec_text
from exporter.errors import SpecError
from exporter.pipeline.runner import RunOptions, run_job
from exporter.sinks import MANIFEST_NAME
from exporter.spec import AuthSpec, ExportSpec, JobSpec, OutputSpec, RetrySpec, SourceSpec
from tests.test_runner import read_snapshot


def auto_job(base_url: str, out: Path, *exports: ExportSpec) -> JobSpec:
    return JobSpec(
        source=SourceSpec(base_url=base_url, retry=RetrySpec(max_attempts=2)),
        exports=exports,
        output=OutputSpec(format="jsonl", path=str(out), schema="native"),
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


def test_auto_keeps_a_v1_spec_on_v1_when_the_server_speaks_both(
    make_simulator: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """v1 field names in a filter fit only v1: the output must not switch to v2 field names."""
    sim = make_simulator(scale=20, api="both")
    bpmn_id = sim.dataset.records("process-instances")[0]["bpmnProcessId"]
    export = ExportSpec(
        endpoint="process-instances", name="pi", filter={"bpmnProcessId": bpmn_id}, page_size=4
    )
    with caplog.at_level(logging.INFO, logger="exporter"):
        result = run_job(auto_job(sim.base_url, tmp_path, export), RunOptions())
    assert result.ok, [r.error for r in result.failed]
    expected = [
        r for r in sim.dataset.records("process-instances") if r["bpmnProcessId"] == bpmn_id
    ]
    assert expected and read_snapshot(result.exports[0].location) == expected
    said = " ".join(r.getMessage() for r in caplog.records if "api auto" in r.getMessage())
    assert "chose v1" in said and "fits only v1" in said
    assert "/v2/" not in said  # v2 was not even probed


def test_auto_with_cookie_auth_stays_on_v1(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=10, api="both", auth="cookie")
    job = auto_job(sim.base_url, tmp_path, INCIDENTS)
    cookie = AuthSpec(mode="cookie", username=sim.config.username, password=sim.config.password)
    job = replace(job, source=replace(job.source, auth=cookie))
    result = run_job(job, RunOptions())
    assert result.ok, [r.error for r in result.failed]
    assert read_snapshot(result.exports[0].location) == sim.dataset.records("incidents")


def test_cookie_auth_with_api_v2_is_a_spec_error(tmp_path: Path) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(
        "version: 1\n"
        "source:\n  base_url: http://127.0.0.1:9\n  api: v2\n"
        "  auth: {mode: cookie, username: demo, password: demo}\n"
        "exports:\n  - endpoint: incidents\n"
    )
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    (problem,) = info.value.problems
    assert problem.path == "source.auth.mode" and "v1 API only" in problem.message


def test_a_v1_only_spec_against_a_v2_only_server_is_refused_with_its_problems(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(scale=5, api="v2")
    export = ExportSpec(endpoint="incidents", name="inc", filter={"type": "JOB_NO_RETRIES"})
    with pytest.raises(SpecError) as info:
        run_job(auto_job(sim.base_url, tmp_path, export))
    text = str(info.value)
    assert "probed as API v2" in text and "exports[0].filter.type" in text
    assert not list(tmp_path.iterdir())


def saas_auto_spec(sim: Any, out: Path, audience_line: str = "") -> str:
    return (
        "version: 1\n"
        "source:\n"
        f"  base_url: {sim.base_url}\n"
        "  retry: {max_attempts: 2}\n"
        "  auth:\n"
        "    mode: saas\n"
        "    client_id: operate-export\n"
        "    client_secret: sim-client-secret\n"
        f"    token_url: {sim.token_url}\n"
        f"{audience_line}"
        "exports:\n"
        "  - endpoint: incidents\n"
        "    page_size: 3\n"
        "output:\n"
        "  format: jsonl\n"
        "  schema: native\n"
        f"  path: {out}\n"
    )


@pytest.mark.parametrize(("serves", "chosen"), [("v2", "v2"), ("both", "v2"), ("v1", "v1")])
def test_auto_with_saas_probes_each_api_with_a_token_for_its_audience(
    make_simulator: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    serves: str,
    chosen: str,
) -> None:
    # The simulator binds a token to its audience: a v1 token (operate.camunda.io) on /v2 is a
    # 401. The v2 probe must get a zeebe.camunda.io token; a v1-only server is then probed and
    # exported with the v1 token, and the run goes on with the client of the chosen API.
    sim = make_simulator(scale=20, api=serves, auth="saas")
    spec = parse_spec_text(saas_auto_spec(sim, tmp_path))
    assert spec.source.api == "auto"
    with caplog.at_level(logging.INFO, logger="exporter"):
        result = run_job(spec, RunOptions())
    assert result.ok, [r.error for r in result.failed]
    assert f"api auto: chose {chosen}" in caplog.text
    # one token for the loader's default audience (v1's, checked before the probe) and one
    # for v2's audience (the v2 probe, and the run on v2)
    assert sim.stats()["tokens_issued"] == 2
    export = result.exports[0]
    assert read_snapshot(export.location) == sim.dataset.records("incidents", api=chosen)


def test_auto_with_saas_keeps_an_explicit_audience(make_simulator: Any, tmp_path: Path) -> None:
    # The user named v2's audience: on a v1-only server the v1 probe uses it too and is refused
    # (401 -> an auth error naming the refusal), instead of silently switching audience.
    sim = make_simulator(scale=20, api="v1", auth="saas")
    text = saas_auto_spec(sim, tmp_path, "    audience: zeebe.camunda.io\n")
    result = run_job(parse_spec_text(text), RunOptions())
    assert not result.ok
    assert result.exports[0].error_type == "AuthError"
    assert "HTTP 401" in (result.exports[0].error or "")
