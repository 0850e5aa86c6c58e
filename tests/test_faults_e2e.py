"""Faults end to end: every fault kind at every page boundary, fatal errors, broken contracts.

Transient faults come from the simulator's fault injector. Contract violations (a repeated
cursor, a page larger than asked, ...) come from ``MisbehavingOperate`` below: a tiny real
loopback HTTP server whose routes each break one paging rule, because a faithful simulator
never does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from exporter.cli.app import cli
from exporter.pipeline.runner import RunOptions, run_job
from exporter.simulator import FaultConfig, Simulator
from exporter.sinks import INCOMPLETE_NAME, MANIFEST_NAME
from exporter.spec import ExportSpec
from tests.test_runner import by_name, job, read_snapshot

FAULT_KINDS = {
    "429": {"rate_429": 0.3, "retry_after": 0},
    "500": {"rate_500": 0.3},
    "502": {"rate_502": 0.3},
    "503": {"rate_503": 0.3},
    "504": {"rate_504": 0.3},
    "reset": {"rate_reset": 0.3},
    "slow": {"rate_slow": 0.3, "slow_seconds": 1.0},
    "truncated": {"rate_truncated": 0.3},
    "html": {"rate_html": 0.3},
}

EXPORTS = (
    ExportSpec(endpoint="process-instances", name="pi", page_size=6),
    ExportSpec(endpoint="variables", name="var", page_size=25),
    ExportSpec(
        endpoint="decision-instances", name="di", page_size=3, include_evaluation_details=True
    ),
)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_at_every_page_boundary_yields_the_exact_records(
    make_simulator: Callable[..., Simulator], tmp_path: Path, kind: str
) -> None:
    sim = make_simulator(scale=40, seed=11, faults=FaultConfig(**FAULT_KINDS[kind]))
    # A short timeout turns the slow answers into client timeouts (then retried).
    spec = job(sim.base_url, tmp_path, *EXPORTS, timeout=0.5 if kind == "slow" else 10.0)
    result = run_job(spec, RunOptions())
    assert result.ok, [r.error for r in result.failed]
    for export in EXPORTS:
        r = by_name(result)[export.name]
        truth = sim.dataset.records(export.endpoint)
        assert read_snapshot(r.location) == truth, export.name
        assert r.pages == len(truth) // export.page_size + 1
        assert r.pages >= 5  # many page boundaries
    stats = sim.stats()
    injected = sum(stats["faults"].values())
    assert injected > 10
    retries = sum(r.retries for r in result.exports)
    # Every injected fault cost exactly one retry (nothing was silently accepted).
    assert retries == injected
    assert sum(r.requests for r in result.exports) == stats["requests"]


def test_retries_exhausted_fails_the_export_and_says_so(
    make_simulator: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = make_simulator(scale=10, seed=1, faults=FaultConfig(rate_503=1.0))
    export = ExportSpec(endpoint="incidents", name="inc", page_size=5)
    result = run_job(job(sim.base_url, tmp_path, export), RunOptions())
    (r,) = result.exports
    assert r.error_type == "RetriesExhausted"
    assert "503" in r.error
    assert r.retries == 9  # max_attempts 10 = 1 try + 9 retries
    assert not list(tmp_path.rglob(MANIFEST_NAME))


# -- a purpose-built misbehaving Operate ------------------------------------------------------

BIG = 2**60 + 5


def _items(start: int, count: int) -> list[dict[str, Any]]:
    return [{"key": BIG + i, "tenantId": "<default>"} for i in range(start, start + count)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = orjson.loads(self.rfile.read(length) or b"{}")
        size = body.get("size", 10)
        after = body.get("searchAfter")
        start = 0 if after is None else after[-1] - BIG + 1
        resource = self.path.split("/")[2]
        if resource == "process-instances":  # correct: 23 items
            items = _items(start, max(0, min(size, 23 - start)))
            sort_values = [items[-1]["key"]] if items else []
            self._send(200, {"items": items, "sortValues": sort_values, "total": 23})
        elif resource == "incidents":  # repeats the first page forever
            self._send(200, {"items": _items(0, size), "sortValues": [BIG + size - 1], "total": 99})
        elif resource == "flownode-instances":  # full page without a cursor
            self._send(200, {"items": _items(start, size), "total": 99})
        elif resource == "decision-definitions":  # more items than asked
            self._send(200, {"items": _items(start, size + 1), "sortValues": [BIG], "total": 9})
        elif resource == "drd":  # cursor without the tie-breaker
            self._send(200, {"items": _items(start, size), "sortValues": [], "total": 9})
        elif resource == "decision-instances":  # items that are not objects
            self._send(200, {"items": [1, 2, 3], "sortValues": [3], "total": 3})
        else:  # variables: a fatal problem+json
            problem = {
                "status": 400,
                "message": "Field 'value' is broken here",
                "instance": "0c6f0c4e-dead-beef",
                "type": "Invalid request",
            }
            self._send(400, problem, "application/problem+json")


@pytest.fixture
def misbehaving() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


CONTRACT_CASES = {
    "incidents": ("ProtocolError", "repeated the cursor"),
    "flownode-instances": ("ProtocolError", "without sortValues"),
    "decision-definitions": ("ProtocolError", "6 items for size 5"),
    "drd-like": ("ProtocolError", "without sortValues"),
    "decision-instances": ("ProtocolError", "item 0 is int"),
    "variables": ("ApiError", "server says: Field 'value' is broken here"),
}


def test_contract_violations_and_fatal_4xx_fail_only_their_export(
    misbehaving: str, tmp_path: Path
) -> None:
    exports = [ExportSpec(endpoint="process-instances", name="good", page_size=5)]
    for name in CONTRACT_CASES:
        endpoint = "decision-requirements" if name == "drd-like" else name
        exports.append(ExportSpec(endpoint=endpoint, name=name, page_size=5))
    result = run_job(job(misbehaving, tmp_path, *exports, concurrency=4), RunOptions())
    results = by_name(result)
    good = results["good"]
    assert good.ok
    assert [r["key"] for r in read_snapshot(good.location)] == [BIG + i for i in range(23)]
    for name, (error_type, message) in CONTRACT_CASES.items():
        assert results[name].error_type == error_type, name
        assert message in results[name].error, name
    assert "instance: 0c6f0c4e-dead-beef" in results["variables"].error
    manifests = list(tmp_path.rglob(MANIFEST_NAME))
    assert [m.parent for m in manifests] == [Path(good.location)]
    # Each failed export that got as far as a snapshot is marked incomplete.
    assert list((tmp_path / "incidents").rglob(INCOMPLETE_NAME))


def test_cli_exits_1_naming_each_failed_export(misbehaving: str, tmp_path: Path) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"""
version: 1
source: {{base_url: "{misbehaving}", api: v1, retry: {{max_attempts: 2}}}}
exports:
  - {{endpoint: process-instances, name: good, page_size: 5}}
  - {{endpoint: incidents, name: looping, page_size: 5}}
  - {{endpoint: variables, name: rejected, page_size: 5}}
output: {{format: jsonl, schema: native, path: "{tmp_path / "out"}"}}
"""
    )
    result = CliRunner().invoke(cli, ["run", str(spec)])
    assert result.exit_code == 1, result.output
    assert "error: export 'looping' failed:" in result.stderr
    assert "repeated the cursor" in result.stderr
    assert "error: export 'rejected' failed:" in result.stderr
    assert "Field 'value' is broken here" in result.stderr
    assert "good" in result.stdout and "FAILED" in result.stdout
    assert "error: export 'good'" not in result.stderr
