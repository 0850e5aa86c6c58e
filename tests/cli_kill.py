"""Runs the real CLI on a spec document and SIGKILLs it at an instant the files on disk show
(tests of crash safety: the kill point is polled for, never slept for blindly)."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml


def run_cli_and_kill(document: dict[str, Any], spec_path: Path, pattern: str) -> None:
    """``operate-export run`` of ``document`` (written to ``spec_path``), killed with SIGKILL as
    soon as a file matches the glob ``pattern`` (fails when the run ends first)."""
    spec_path.write_text(yaml.safe_dump(document))
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter", "run", str(spec_path), "--quiet"],
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    deadline = time.monotonic() + 60
    while not glob.glob(pattern):
        assert process.poll() is None and time.monotonic() < deadline, f"no {pattern}"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
