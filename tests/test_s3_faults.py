"""Issue 18 point 2: an S3 store that fails some requests (retried, nothing lost), one that
denies access, and a bucket that does not exist (a clear error, exit 1), through the real CLI
for the errors. Credentials never show in what the CLI prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
import yaml

import exporter
from exporter.errors import EXIT_EXPORT_FAILED
from exporter.simulator import Simulator
from tests.s3_server import FAKE_CREDENTIALS, FaultyS3Proxy

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def proxy(s3_server: Any) -> Any:
    started: list[FaultyS3Proxy] = []

    def make(**behaviour: Any) -> FaultyS3Proxy:
        started.append(FaultyS3Proxy(s3_server.port, **behaviour).start())
        return started[-1]

    yield make
    for one in started:
        one.stop()


def document(sim: Simulator, path: str, options: dict[str, str]) -> dict[str, Any]:
    return {
        "version": 1,
        "source": {"base_url": sim.base_url, "api": "v1"},
        "exports": [{"endpoint": "process-instances", "name": "pi", "page_size": 50}],
        "output": {"path": path, "storage_options": options, "rows_per_file": 100},
    }


def run_cli(tmp_path: Path, doc: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump(doc))
    return subprocess.run(
        [sys.executable, "-m", "exporter", "run", str(spec)],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
    )


def assert_no_credentials(text: str) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert FAKE_CREDENTIALS[name] not in text


def test_failed_requests_are_retried_and_nothing_is_lost(
    simulator: Simulator, s3_server: Any, proxy: Any
) -> None:
    bucket = s3_server.new_bucket()
    faulty = proxy(fail_every=10)
    doc = document(simulator, f"s3://{bucket}/out", faulty.storage_options)
    result = exporter.run_job(exporter.load_spec(doc), exporter.RunOptions(quiet=True))
    assert result.ok, [e.error for e in result.failed]
    assert faulty.failed >= 5  # the store did fail, more than once
    latest = exporter.latest_snapshot(f"s3://{bucket}/out", "pi", s3_server.storage_options)
    assert latest is not None
    keys = ds.dataset(latest.paths, filesystem=latest.filesystem).to_table()
    found = keys.column("processInstanceKey").to_pylist()
    assert len(found) == len(set(found)) == len(simulator.truth("process-instances"))


def test_access_denied_is_a_clear_error_and_exit_1(
    simulator: Simulator, s3_server: Any, proxy: Any, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    denying = proxy(deny=True)
    done = run_cli(tmp_path, document(simulator, f"s3://{bucket}/out", denying.storage_options))
    assert done.returncode == EXIT_EXPORT_FAILED, done.stderr
    assert f"s3://{bucket}/out" in done.stderr
    assert "AccessDenied" in done.stderr or "ACCESS_DENIED" in done.stderr
    assert "Traceback" not in done.stderr
    assert_no_credentials(done.stdout + done.stderr)


def test_a_missing_bucket_is_a_clear_error_and_exit_1(
    simulator: Simulator, s3_server: Any, tmp_path: Path
) -> None:
    doc = document(simulator, "s3://no-such-bucket-here/out", s3_server.storage_options)
    done = run_cli(tmp_path, doc)
    assert done.returncode == EXIT_EXPORT_FAILED, done.stderr
    assert "s3://no-such-bucket-here/out" in done.stderr
    assert "NoSuchBucket" in done.stderr or "does not exist" in done.stderr.lower()
    assert "Traceback" not in done.stderr
    assert_no_credentials(done.stdout + done.stderr)
