"""Issue 18 point 1: no S3 credential in the spec, and none in what a run into S3 prints or
writes (manifests, markers, the latest pointer, the lease), in any spelling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from exporter.errors import EXIT_INVALID
from exporter.simulator import Simulator
from tests.s3_server import FAKE_CREDENTIALS
from tests.test_secrets_everywhere import spellings

REPO = Path(__file__).resolve().parent.parent
SECRETS = [FAKE_CREDENTIALS[n] for n in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")]


def run(
    tmp_path: Path, doc: dict[str, Any], *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump(doc))
    return subprocess.run(
        [sys.executable, "-m", "exporter", "run", str(spec), *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def leaked(text: str) -> list[str]:
    return [s for secret in SECRETS for s in spellings(secret) if s in text]


def document(sim: Simulator, path: str, options: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "source": {"base_url": sim.base_url, "api": "v1"},
        "exports": [{"endpoint": "incidents"}, {"endpoint": "process-definitions"}],
        "output": {"path": path, "storage_options": options},
    }


def test_no_credential_in_output_logs_or_objects(
    simulator: Simulator, s3_server: Any, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    doc = document(simulator, f"s3://{bucket}/o", s3_server.storage_options)
    done = run(tmp_path, doc, "--log-format", "json")
    assert done.returncode == 0, done.stderr
    assert not leaked(done.stdout + done.stderr)
    client = s3_server.client()
    keys = s3_server.keys(bucket)
    assert any(k.endswith("_latest.json") for k in keys)
    for key in keys:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert not leaked(body.decode("latin-1")), key


def test_credentials_in_the_spec_are_refused_without_echo(
    simulator: Simulator, s3_server: Any, tmp_path: Path
) -> None:
    secret = "wJalrXUtnFEMI-spec-secret-9876"
    options = {**s3_server.storage_options, "secret_key": "${MY_S3_SECRET}"}
    done = run(tmp_path, document(simulator, "s3://b/o", options), MY_S3_SECRET=secret)
    assert done.returncode == EXIT_INVALID
    assert "output.storage_options.secret_key" in done.stderr
    assert secret not in done.stdout + done.stderr

    in_uri = f"s3://AKIAEXAMPLE:{secret}@bucket/o"
    done = run(tmp_path, document(simulator, in_uri, s3_server.storage_options))
    assert done.returncode == EXIT_INVALID
    assert "output.path" in done.stderr and "credentials" in done.stderr
    assert secret not in done.stdout + done.stderr


def test_storage_options_on_a_path_that_takes_none_are_refused() -> None:
    import pytest

    from exporter.errors import SpecError
    from exporter.spec.load import NoRegistryRules, load_document

    for path in ("./out", "abfs://c@acct.dfs.core.windows.net/o"):
        document = {
            "version": 1,
            "source": {"base_url": "http://127.0.0.1:1"},
            "exports": [{"endpoint": "incidents"}],
            "output": {"path": path, "storage_options": {"region": "x"}},
        }
        with pytest.raises(SpecError, match=r"output\.storage_options: only applies to an s3://"):
            load_document(document, None, {}, rules=NoRegistryRules())
