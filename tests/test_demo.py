"""`make demo` = `python -m exporter.demo`: the whole tool against the embedded simulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import yaml

from exporter.cli.demo import preview

ROOT = Path(__file__).resolve().parent.parent


def test_demo_exports_every_export_of_the_demo_spec_and_shows_what_it_wrote(
    tmp_path: Path,
) -> None:
    out = tmp_path / "demo-output"
    done = subprocess.run(
        [sys.executable, "-m", "exporter.demo", "--output", str(out), "--scale", "150"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    spec = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    names = [e.get("name", e["endpoint"]) for e in spec["exports"]]
    assert len(names) >= 8
    for name in names:
        (manifest,) = (out / name).glob("snapshot=*/_manifest.json")
        data = orjson.loads(manifest.read_bytes())
        line = next(row for row in done.stdout.splitlines() if row.startswith(f"{name} "))
        assert line.split()[1] == "ok" and int(line.split()[2]) == data["records"]
    assert "keys exceed 2^53 and are stored exactly as int64" in done.stdout
    assert "simulator served" in done.stdout


def test_preview_shows_nothing_without_a_complete_snapshot(tmp_path: Path) -> None:
    assert preview(tmp_path) == []
    incomplete = tmp_path / "process-instances" / "snapshot=20261127T000000Z"
    incomplete.mkdir(parents=True)
    (incomplete / "_INCOMPLETE").write_text("{}")
    assert preview(tmp_path) == []
