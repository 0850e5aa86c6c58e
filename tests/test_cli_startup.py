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


def _spec(tmp_path: Path, base_url: str, api: str = "v1", fmt: str = "parquet") -> Path:
    spec = tmp_path / f"job-{api}-{fmt}.yaml"
    spec.write_text(
        "version: 1\n"
        f"source: {{base_url: '{base_url}', api: {api}, auth: {{mode: none}}}}\n"
        "exports: [{endpoint: flownode-instances, page_size: 50}, {endpoint: variables}]\n"
        f"output: {{format: {fmt}, path: '{tmp_path / ('out-' + api + fmt)}'}}\n",
        encoding="utf-8",
    )
    return spec


def test_a_run_through_the_console_entry_point_imports_neither_numpy_nor_pandas(
    simulator: Simulator, tmp_path: Path
) -> None:
    """pyarrow imports numpy (and its pandas shim pandas) only to handle their values, which
    the exporter never hands it: the CLI process hides them (cli/startup.py). A Parquet run
    (v1: Python-converted variables pages, where the shim would look for pandas) and a JSONL
    run both write every record without them."""
    for fmt in ("parquet", "jsonl"):
        spec = _spec(tmp_path, simulator.base_url, fmt=fmt)
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "exporter", "run", str(spec)],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        imported = {
            line.rsplit("|", 1)[1].strip()
            for line in done.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }
        assert "pyarrow.lib" in imported  # the probe sees the imports at all
        # (-X importtime lists the refused attempt itself: a real import loads submodules)
        assert not {m for m in imported if m.startswith(("numpy.", "pandas."))}, fmt
        assert "flownode-instances" in done.stdout and "ok" in done.stdout


HIDE_THEN_REVEAL = """
import sys
from exporter.cli import startup
startup.hide_unused_modules()
import pyarrow as pa
try:
    import pandas
except ImportError:
    pandas_hidden = True
else:
    pandas_hidden = False
startup.reveal_startup_modules()
import numpy  # importable again for whatever wants it later
print(pandas_hidden, "numpy" in sys.modules, pa.array([{"a": 1}]).type)
"""


def test_numpy_is_hidden_only_while_pyarrow_is_imported_and_pandas_for_good() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HIDE_THEN_REVEAL], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "struct<a:", "int64>"]
