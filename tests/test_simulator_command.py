"""The `operate-export simulate` command: prints its URLs, serves, never prints secrets."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import requests
from click.testing import CliRunner

from exporter.cli.app import cli


def test_simulate_serves_and_prints_urls_without_secrets():
    env = {**os.environ, "SIM_CLIENT_SECRET": "very-secret-value", "SIM_EXIT_AFTER": "30"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "simulate",
            "--port",
            "0",
            "--scale",
            "20",
            "--auth",
            "saas",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        base = re.search(r"base URL:\s+(\S+)", "".join(lines)).group(1)
        token_url = re.search(r"token URL:\s+(\S+)", "".join(lines)).group(1)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base) and not base.endswith(":0")
        token = requests.post(
            token_url,
            data={
                "client_id": "operate-export",
                "client_secret": "very-secret-value",
                "audience": "operate.camunda.io",
                "grant_type": "client_credentials",
            },
        ).json()
        r = requests.post(
            base + "/v1/process-instances/search",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert r.status_code == 200 and r.json()["total"] == 20
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert "very-secret-value" not in "".join(lines) + out + err


def test_simulate_help_has_an_example_and_bad_fault_is_usage_error():
    runner = CliRunner()
    help_text = runner.invoke(cli, ["simulate", "--help"]).output
    assert "Example" in help_text and "--fault-rate" in help_text
    result = runner.invoke(cli, ["simulate", "--fault-rate", "teapot=0.5"])
    assert result.exit_code == 2 and "teapot" in result.output
