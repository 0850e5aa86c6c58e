"""The CLI process pauses the garbage collector during its start-up imports only
(``exporter/cli/startup.py``): on again, with the imports frozen, before the command runs."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from exporter.cli import startup
from exporter.cli.app import cli
from exporter.simulator import Simulator

REPO = Path(__file__).resolve().parent.parent

# The console entry point, with a probe of the collector inside the command.
PROBE = """
import gc, sys
import exporter.cli.app as app
import exporter.cli.run as run
seen = []
real = run.run_or_exit
def probe(*args, **kwargs):
    seen.append((gc.isenabled(), gc.get_freeze_count() > 0, "pyarrow" in sys.modules))
    return real(*args, **kwargs)
run.run_or_exit = probe
sys.argv = ["operate-export", "run", sys.argv[1], "--dry-run"]
try:
    app.main()
finally:
    print("probe", seen, gc.isenabled(), file=sys.stderr)
"""


def test_the_console_entry_point_runs_the_command_with_the_collector_on(
    simulator: Simulator, tmp_path: Path
) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(
        "version: 1\n"
        f"source: {{base_url: '{simulator.base_url}', auth: {{mode: none}}}}\n"
        "exports: [{endpoint: incidents}]\n"
        f"output: {{format: parquet, path: '{tmp_path / 'out'}'}}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(spec)], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    # On when the command runs, with the imports (pyarrow among them) frozen; on at the end.
    assert "probe [(True, True, True)] True" in done.stderr


def test_without_the_entry_point_nothing_is_paused_or_frozen(tmp_path: Path) -> None:
    frozen = gc.get_freeze_count()
    result = CliRunner().invoke(cli, ["validate", str(REPO / "configs" / "demo.yaml")])
    assert result.exit_code == 0, result.output
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    startup.resume_collector("json")  # not paused: a no-op
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_pause_then_resume_imports_freezes_and_turns_the_collector_back_on() -> None:
    startup.pause_collector()
    try:
        assert not gc.isenabled()
        startup.resume_collector("exporter.cli.startup")
        assert gc.isenabled() and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable()
