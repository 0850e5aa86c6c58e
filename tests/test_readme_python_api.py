"""The README's "From Python" example (issue 12 point 4) runs as written.

The ```python block of that section is taken from README.md and executed unchanged, with the
environment variables it names pointing at the bundled simulator and a temporary folder.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _example() -> str:
    section = README.read_text(encoding="utf-8").split("\n## From Python\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = section.split("```python\n")
    assert len(blocks) == 2, "the section holds exactly one python example"
    return blocks[1].split("\n```", 1)[0]


def test_the_readme_python_example_runs_against_the_simulator(
    make_simulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = make_simulator(scale=20, api="v2")
    out = tmp_path / "exports"
    monkeypatch.setenv("OPERATE_URL", sim.base_url)
    monkeypatch.setenv("EXPORT_DIR", str(out))
    printed = io.StringIO()
    namespace: dict[str, Any] = {}
    with contextlib.redirect_stdout(printed):
        exec(compile(_example(), str(README), "exec"), namespace)
    result = namespace["result"]
    assert result.ok
    lines = printed.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["incidents", "flownode-instances"]
    for export, line in zip(result.exports, lines, strict=True):
        truth = sim.dataset.records(export.endpoint, api="v2")
        assert export.records == len(truth) > 0
        assert line == f"{export.name} {export.records} {export.location}"
        rows = sum(pq.read_metadata(p).num_rows for p in Path(export.location).glob("*.parquet"))
        assert rows == export.records


def test_a_failed_export_makes_the_readme_example_raise(
    make_simulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server that serves only v1: the v2 searches get 404, the example raises with the errors.
    sim = make_simulator(scale=5, api="v1")
    monkeypatch.setenv("OPERATE_URL", sim.base_url)
    monkeypatch.setenv("EXPORT_DIR", str(tmp_path / "exports"))
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(RuntimeError, match="404"):
        exec(compile(_example(), str(README), "exec"), {})
