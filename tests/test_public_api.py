"""The public Python API (issue 12 point 4): ``exporter.load_spec``, ``exporter.run_job`` and
the result types, importable from the package itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import exporter


def _document(base_url: str, out: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "source": {"base_url": base_url, "api": "v1", "retry": {"max_attempts": 2}},
        "exports": [{"endpoint": "incidents", "page_size": 7, "filter": {"key": "${KEY}"}}],
        "output": {"format": "jsonl", "path": str(out)},
    }


def test_load_spec_takes_a_mapping_like_the_yaml(tmp_path: Path) -> None:
    document = _document("http://127.0.0.1:1", tmp_path)
    spec = exporter.load_spec(document, env={"KEY": "2251799813685255"})
    assert isinstance(spec, exporter.JobSpec)
    # typed for v1 as from YAML: a digit string at a key field becomes an exact int
    assert spec.exports[0].filter == {"key": 2251799813685255}
    path = tmp_path / "job.yaml"
    path.write_text(
        "version: 1\nsource: {base_url: 'http://127.0.0.1:1', api: v1, retry: {max_attempts: 2}}\n"
        "exports: [{endpoint: incidents, page_size: 7, filter: {key: '${KEY}'}}]\n"
        f"output: {{format: jsonl, path: '{tmp_path}'}}\n"
    )
    assert exporter.load_spec(path, env={"KEY": "2251799813685255"}) == spec.__class__(
        **{**spec.__dict__, "origin": str(path)}
    )


def test_load_spec_refuses_a_bad_mapping_with_every_problem(tmp_path: Path) -> None:
    document = _document("http://127.0.0.1:1", tmp_path)
    document["exports"][0]["endpoint"] = "nope"
    document["exports"][0]["page_size"] = 0
    with pytest.raises(exporter.SpecError) as caught:
        exporter.load_spec(document, env={"KEY": "1"})
    paths = {problem.path for problem in caught.value.problems}
    assert {"exports[0].endpoint", "exports[0].page_size"} <= paths


def test_run_job_from_python(make_simulator: Any, tmp_path: Path) -> None:
    sim = make_simulator(scale=20, api="v1")
    document = _document(sim.base_url, tmp_path)
    document["exports"][0].pop("filter")
    result = exporter.run_job(exporter.load_spec(document), exporter.RunOptions())
    assert isinstance(result, exporter.RunResult) and result.ok
    (only,) = result.exports
    assert isinstance(only, exporter.ExportResult)
    assert only.records == len(sim.dataset.records("incidents")) > 0


def test_import_exporter_stays_cheap() -> None:
    code = (
        "import sys, exporter; print(sorted(m for m in sys.modules if m.startswith('exporter.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['exporter.version']"
