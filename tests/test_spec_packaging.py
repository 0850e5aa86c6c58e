"""The wheel carries the schema and the demo spec, and `python -m exporter.demo` runs from it.

Builds the wheel from a copy of the source (the shared tree stays clean) with the venv's own
setuptools and wheel (no network), unpacks it (that is what installing a pure-Python wheel does)
and runs the demo from a folder with no repository around it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "exporter", "schemas", "configs")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(origin, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(origin, source / name)
    out = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*build, "--no-index", "--quiet", str(source), "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("operate_export-*.whl")
    return built


def test_the_wheel_holds_the_schema_and_the_demo_spec_as_files(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "exporter/configs/demo.yaml" in names
        assert "exporter/schemas/job.schema.json" in names
        demo = archive.read("exporter/configs/demo.yaml")
        schema = archive.read("exporter/schemas/job.schema.json")
    # The symlinks' targets, copied in: the single copies in configs/ and schemas/.
    assert demo == (ROOT / "configs" / "demo.yaml").read_bytes()
    assert schema == (ROOT / "schemas" / "job.schema.json").read_bytes()


def test_the_demo_runs_from_the_installed_wheel_alone(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"  # no configs/ folder anywhere near
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("OPERATE_BASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "exporter.demo", "--scale", "40", "--output", "out"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    spec_line = next(line for line in done.stdout.splitlines() if line.startswith("spec:"))
    assert spec_line.split(None, 1)[1] == str(site / "exporter" / "configs" / "demo.yaml")
    assert len(list((elsewhere / "out").glob("*/snapshot=*/_manifest.json"))) >= 8
