"""Issue 4 point 8: no secret in any log line, error, exception, progress output or output file.

For every auth mode, the full CLI runs against the simulator with distinctive secret values,
as a real subprocess and through click's CliRunner (with every logger at DEBUG, urllib3's
included), with text and JSON log formats, on the success path and on failure paths: a wrong
secret, a fault-heavy server (retries, token renewals, re-logins), and exports failing with a 4xx
(429 until the retries run out). Everything printed and every file written under the output
directory (raw bytes, gunzipped JSONL, Parquet values) is searched for the configured secrets,
the Basic header value and every token, session cookie and CSRF token the simulator issued.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from exporter.api.validation import parse_spec_text
from exporter.cli.app import cli
from exporter.simulator import FaultConfig, Simulator
from exporter.sinks import MANIFEST_NAME
from tests.secrets_util import (
    assert_no_leaks,
    exception_texts,
    find_leaks,
    output_texts,
    scan_paths,
)

MakeSim = Callable[..., Simulator]
REPO = Path(__file__).resolve().parent.parent
MODES = ["saas", "identity", "cookie", "basic"]
SECRET_ENV = "PIPE_TEST_SECRET"
USERNAME = "export-user-5b7a"
HEAVY_FAULTS = FaultConfig(
    rate_429=0.05,
    retry_after=0,
    rate_500=0.05,
    rate_503=0.05,
    rate_reset=0.03,
    rate_truncated=0.04,
    rate_html=0.04,
    apply_to_auth=True,
)


def secret_for(mode: str) -> str:
    return f"S3CR3T-{mode}-9f2c"


def wrong_secret_for(mode: str) -> str:
    return f"WR0NG-{mode}-41aa"


def auth_yaml(sim: Simulator, mode: str) -> str:
    if mode in ("saas", "identity"):
        audience = "operate.camunda.io" if mode == "saas" else "operate-api"
        return (
            f'{{mode: {mode}, client_id: operate-export, client_secret: "${{{SECRET_ENV}}}", '
            f'token_url: "{sim.token_url}", audience: {audience}}}'
        )
    return f'{{mode: {mode}, username: {USERNAME}, password: "${{{SECRET_ENV}}}"}}'


def write_spec(path: Path, sim: Simulator, mode: str, out: Path, fmt: str) -> Path:
    compression = "gzip" if fmt == "jsonl" else "zstd"
    path.write_text(
        f"""version: 1
source:
  base_url: "{sim.base_url}"
  api: v1
  auth: {auth_yaml(sim, mode)}
  retry: {{max_attempts: 8, initial_backoff_seconds: 0.01, max_backoff_seconds: 0.02}}
  timeout_seconds: 5
exports:
  - {{endpoint: variables, name: vars, page_size: 25}}
  - {{endpoint: process-definitions, name: defs, page_size: 4, include_xml: true}}
  - {{endpoint: incidents, name: inc, page_size: 3}}
output: {{format: {fmt}, compression: {compression}, path: "{out}", rows_per_file: 30}}
"""
    )
    return path


@dataclass
class Captured:
    """Everything one mode's runs printed or raised, and where they wrote files."""

    texts: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.texts)


def run_subprocess(spec: Path, secret: str, *options: str) -> tuple[int, str]:
    env = {**os.environ, SECRET_ENV: secret}
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "run", str(spec), *options],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return proc.returncode, proc.stdout.decode() + "\n" + proc.stderr.decode()


def run_in_process(
    spec: Path, secret: str, caplog: pytest.LogCaptureFixture, *options: str
) -> tuple[int, str]:
    """CliRunner with every log record captured at DEBUG (urllib3's request lines included)."""
    caplog.clear()
    result = CliRunner().invoke(cli, ["run", str(spec), *options], env={SECRET_ENV: secret})
    texts = [result.stdout, result.stderr, caplog.text]
    texts += [f"{r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in caplog.records]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        texts.append(exception_texts(result.exception))
    return result.exit_code, "\n".join(texts)


def manifests_under(out: Path) -> list[Path]:
    return sorted(out.rglob(MANIFEST_NAME)) if out.exists() else []


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # root: urllib3, requests
    caplog.set_level(logging.DEBUG, logger="exporter")  # kept: the CLI only lowers to WARNING
    caplog.set_level(logging.DEBUG, logger="urllib3")
    return caplog


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_no_secret_anywhere_in_cli_output_or_files(
    make_simulator: MakeSim, tmp_path: Path, debug_logs: pytest.LogCaptureFixture, mode: str
) -> None:
    secret, wrong = secret_for(mode), wrong_secret_for(mode)
    sim = make_simulator(
        scale=30,
        seed=5,
        auth=mode,
        client_secret=secret,
        username=USERNAME,
        password=secret,
        token_ttl=2,  # renewed on every request (less than 30 s left): many tokens
        session_max_requests=40,  # cookie: several sessions per run, each with a CSRF token
    )
    seen = Captured()
    n = 0

    def spec(fmt: str) -> Path:
        nonlocal n
        n += 1
        out = tmp_path / f"out-{n}"
        seen.outputs.append(out)
        return write_spec(tmp_path / f"job-{n}.yaml", sim, mode, out, fmt)

    # Success, as a real process (text logs, Parquet) and in-process at DEBUG (JSON, JSONL).
    for runner, fmt, log_format in [("process", "parquet", "text"), ("cli", "jsonl", "json")]:
        path = spec(fmt)
        if runner == "process":
            code, text = run_subprocess(path, secret, "--log-format", log_format)
        else:
            code, text = run_in_process(path, secret, debug_logs, "--log-format", log_format)
        assert code == 0, text
        assert len(manifests_under(seen.outputs[-1])) == 3
        seen.texts.append(text)

    # A fault-heavy server, token/login endpoints included: retries, renewals, re-logins.
    sim.set_faults(HEAVY_FAULTS)
    code, text = run_in_process(spec("parquet"), secret, debug_logs, "--log-format", "text")
    assert "retrying" in text, "the fault paths were exercised"
    seen.texts.append(text)
    code, text = run_subprocess(spec("jsonl"), secret, "--log-format", "json")
    seen.texts.append(text)

    # Every API request answered 429 until the retries run out: each export fails with a 4xx.
    sim.set_faults(FaultConfig(rate_429=1.0, retry_after=0))
    for log_format in ("text", "json"):
        code, text = run_in_process(spec("jsonl"), secret, debug_logs, "--log-format", log_format)
        assert code == 1 and "429" in text, text
        seen.texts.append(text)
    code, text = run_subprocess(spec("parquet"), secret)
    assert code == 1 and "429" in text, text
    seen.texts.append(text)
    assert not manifests_under(seen.outputs[-1])

    # A wrong secret: fails fast, naming the mode, in both log formats, both ways of running.
    sim.set_faults(FaultConfig())
    for log_format in ("text", "json"):
        code, text = run_subprocess(spec("parquet"), wrong, "--log-format", log_format)
        assert code == 1 and mode in text, text
        seen.texts.append(text)
        code, text = run_in_process(spec("jsonl"), wrong, debug_logs, "--log-format", log_format)
        assert code == 1 and mode in text, text
        seen.texts.append(text)

    # Seven runs authenticated: at least one token, or one session id + CSRF token, each.
    issued = sim.auth.issued_credentials()
    if mode in ("saas", "identity"):
        assert len(issued) >= 7 and sim.stats()["token_failures"] > 0
    elif mode == "cookie":
        assert len(issued) >= 14 and sim.stats()["login_failures"] > 0
    else:
        assert issued == frozenset()
    basic_header = base64.b64encode(f"{USERNAME}:{secret}".encode()).decode()
    secrets = [secret, wrong, basic_header, *issued]

    assert_no_leaks("CLI output and logs", seen.text(), secrets)
    written = [p for out in seen.outputs if out.exists() for p in out.rglob("*") if p.is_file()]
    assert len(written) > 20  # parts, manifests, checkpoints, markers
    assert scan_paths(seen.outputs, secrets) == {}
    for path in written:
        assert_no_leaks(str(path), output_texts(path), secrets)


def test_scanner_sees_secrets_inside_gzip_and_parquet(tmp_path: Path) -> None:
    """The decoded views really expose values that raw bytes hide (compressed pages)."""
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    secret = "S3CR3T-planted-9f2c"
    gz = tmp_path / "part-00000.jsonl.gz"
    gz.write_bytes(gzip.compress(orjson.dumps({"value": secret}) + b"\n"))
    parquet = tmp_path / "part-00000.parquet"
    pq.write_table(pa.table({"value": [secret * 3]}), parquet, compression="zstd")
    assert scan_paths([gz], [secret]) == {}  # invisible in the raw bytes
    assert find_leaks(output_texts(gz), [secret])
    assert find_leaks(output_texts(parquet), [secret])


def test_simulator_reports_every_credential_it_issued(make_simulator: MakeSim) -> None:
    import requests

    sim = make_simulator(scale=5, auth="cookie", password="pw-4f1e9a")
    assert sim.auth.issued_credentials() == frozenset()
    with requests.Session() as http:
        answer = http.post(
            f"{sim.base_url}/api/login", data={"username": "demo", "password": "pw-4f1e9a"}
        )
        assert answer.status_code == 204
        session = http.cookies["OPERATE-SESSION"]
        csrf = answer.headers["X-CSRF-TOKEN"]
    assert sim.auth.issued_credentials() == {session, csrf}

    token_sim = make_simulator(scale=5, auth="saas", token_ttl=1)
    body = {
        "client_id": "operate-export",
        "client_secret": "sim-client-secret",
        "audience": "operate.camunda.io",
        "grant_type": "client_credentials",
    }
    tokens = {
        requests.post(str(token_sim.token_url), json=body, timeout=5).json()["access_token"]
        for _ in range(3)
    }
    assert len(tokens) == 3
    assert token_sim.auth.issued_credentials() == tokens  # expired ones are still listed


@pytest.mark.parametrize("mode", MODES)
def test_spec_digest_and_manifest_do_not_depend_on_the_secret(
    make_simulator: MakeSim, tmp_path: Path, mode: str
) -> None:
    """A digest of the secret would let anyone holding a manifest test guesses offline."""
    sim = make_simulator(
        scale=5, auth=mode, client_secret="a" * 12, username=USERNAME, password="a" * 12
    )
    path = write_spec(tmp_path / "job.yaml", sim, mode, tmp_path / "out", "jsonl")
    text = path.read_text()
    digests = {
        parse_spec_text(text, env={SECRET_ENV: value}).digest
        for value in (secret_for(mode), wrong_secret_for(mode), "a" * 12)
    }
    assert len(digests) == 1
    (digest,) = digests
    result = CliRunner().invoke(cli, ["run", str(path)], env={SECRET_ENV: "a" * 12})
    assert result.exit_code == 0, result.output
    manifests = manifests_under(tmp_path / "out")
    assert len(manifests) == 3
    for manifest in manifests:
        assert orjson.loads(manifest.read_bytes())["spec_digest"] == digest
