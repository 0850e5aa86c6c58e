"""The CLI end to end: validate, schema, --help on every command, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from exporter.cli.app import cli
from exporter.spec import schema_text

REPO = Path(__file__).resolve().parent.parent
DEMO = str(REPO / "configs" / "demo.yaml")

VALID = """\
version: 1
source: {base_url: "http://127.0.0.1:8080", auth: {mode: none}}
exports: [{endpoint: incidents}, {endpoint: variables, name: vars}]
output: {format: jsonl, path: ./out}
"""

INVALID = """\
version: 1
source:
  base_url: http://127.0.0.1:8080
  auth: {mode: cookie, username: demo, password: 12345678901}
exports:
  - endpoint: process-instances
    filter: {state: RUNNING}
  - endpoint: process-instance
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_valid_spec_prints_one_line_summary_and_exits_0(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "ok.yaml", VALID)
    result = runner.invoke(cli, ["validate", path])
    assert result.exit_code == 0, result.output
    assert (
        result.stdout
        == f"{path}: ok: 2 exports (incidents, variables); auth none; jsonl (none) -> ./out\n"
    )


def test_invalid_spec_reports_every_problem_and_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", INVALID)
    result = runner.invoke(cli, ["validate", path])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}: invalid job spec (3 problems):",
        "  source.auth.password: must be string, got integer (value hidden)",
        "  exports[0].filter.state: 'RUNNING' is not one of ['ACTIVE', 'COMPLETED', 'CANCELED']",
        "  exports[1].endpoint: unknown endpoint 'process-instance'; valid endpoints are: "
        "process-definitions, process-instances, incidents, flownode-instances, variables, "
        "decision-definitions, decision-requirements, decision-instances",
        "1 of 1 spec is invalid",
    ]
    assert "12345678901" not in result.output


def test_every_file_is_checked_even_after_an_invalid_one(runner: CliRunner, tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", INVALID)
    good = write(tmp_path, "ok.yaml", VALID)
    missing = str(tmp_path / "missing.yaml")
    result = runner.invoke(cli, ["validate", bad, missing, str(tmp_path), good])
    assert result.exit_code == 2
    assert f"{good}: ok:" in result.stdout
    assert f"{missing}: invalid job spec (1 problem):\n  file not found" in result.stderr
    assert f"{tmp_path}: invalid job spec (1 problem):\n  is a directory" in result.stderr
    assert "3 of 4 specs are invalid" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("[1, 2]\n", "the document is a list"),
        ("version: 1\nsource: {base_url: x\n", "YAML syntax error at line 3, column 1"),
    ],
    ids=["empty", "non-mapping", "yaml-syntax"],
)
def test_unreadable_documents_get_a_clear_message(
    runner: CliRunner, tmp_path: Path, text: str, expected: str
) -> None:
    result = runner.invoke(cli, ["validate", write(tmp_path, "x.yaml", text)])
    assert result.exit_code == 2
    assert expected in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_unset_variable_is_reported_without_a_value(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "env.yaml", VALID.replace("./out", "'${OUT_DIR_FOR_TEST}'"))
    result = runner.invoke(cli, ["validate", path], env={"OUT_DIR_FOR_TEST": None})
    assert result.exit_code == 2
    assert "output.path: environment variable OUT_DIR_FOR_TEST is not set" in result.stderr
    ok = runner.invoke(cli, ["validate", path], env={"OUT_DIR_FOR_TEST": "/srv/x"})
    assert ok.exit_code == 0 and ok.stdout.endswith("-> /srv/x\n")


def test_validate_without_arguments_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate"])
    assert result.exit_code == 2
    assert "Missing argument" in result.output


def test_schema_prints_the_json_schema(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == schema_text()
    assert json.loads(result.stdout)["title"] == "operate-export job spec"


def test_top_level_help_documents_exit_codes(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    # The column width of the codes is layout, not content (130/143 widen it).
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    for line in ("0 success", "1 an export failed", "2 invalid job spec or command-line usage"):
        assert any(shown.startswith(line) for shown in lines), line


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help_with_an_example(runner: CliRunner, command: str) -> None:
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    example = result.output.split("Example", 1)[1]
    assert f"operate-export {command}" in example


def test_python_dash_m_exporter_exit_codes(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", INVALID)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPERATE_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "exporter", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=60,
            check=False,
        )

    ok = run("validate", DEMO)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"{DEMO}: ok: 9 exports")
    invalid = run("validate", DEMO, bad)
    assert invalid.returncode == 2
    assert "exports[0].filter.state: 'RUNNING' is not one of" in invalid.stderr
    assert "Traceback" not in invalid.stderr
    usage = run("no-such-command")
    assert usage.returncode == 2


def test_validate_dash_reads_stdin_next_to_files(runner: CliRunner, tmp_path: Path) -> None:
    good = write(tmp_path, "ok.yaml", VALID)
    result = runner.invoke(cli, ["validate", "-", good], input=INVALID)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "<stdin>: invalid job spec (3 problems):"
    assert "12345678901" not in result.output
    assert result.stdout.startswith(f"{good}: ok: ")
    assert runner.invoke(cli, ["validate", "-"], input=VALID).stdout.startswith("<stdin>: ok: ")
