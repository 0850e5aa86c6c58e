"""The manifests cache of an export folder (issue 15 point 3: a separate state file is only a
cache rebuilt from manifests): planning reads it instead of every manifest of the export's
history, but a cached window counts only while the listing shows its manifest unchanged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from exporter import load_spec, run_job
from exporter.pipeline.results import RunOptions
from exporter.sinks.layout import MANIFEST_NAME
from exporter.sinks.manifests import (
    CACHE_NAME,
    complete_manifests,
    manifest_summaries,
    summarise,
)
from exporter.spec import JobSpec


def incremental_spec(base_url: str, out: Path) -> JobSpec:
    return load_spec(
        {
            "version": 1,
            "source": {"base_url": base_url, "api": "v2"},
            "exports": [
                {
                    "endpoint": "process-instances",
                    "name": "pi",
                    "page_size": 50,
                    "incremental": {
                        "field": "startDate",
                        "start": "2026-11-22T00:00:00Z",
                        "window": "P1D",
                    },
                }
            ],
            "output": {"format": "jsonl", "path": str(out)},
        }
    )


def run(spec: JobSpec) -> int:
    result = run_job(spec, RunOptions(quiet=True))
    assert result.ok, [e.error for e in result.failed]
    return sum(e.records for e in result.exports)


def exported_once(make_simulator: Any, out: Path) -> JobSpec:
    """The spec of ``out``, after its first run (the 22nd to the 26th of November)."""
    sim = make_simulator(scale=200, seed=3, api="both")  # its clock: 2026-11-27T00:00:00Z
    spec = incremental_spec(sim.base_url, out)
    assert run(spec) > 0
    return spec


def windows_of(spec: JobSpec) -> list[tuple[int, int, int]]:
    return sorted(
        (m["incremental"]["from_ms"], m["incremental"]["to_ms"], m["records"])
        for m in complete_manifests(spec.output, "pi")
    )


def test_the_cache_is_read_only_while_the_listing_vouches_for_each_manifest(
    make_simulator: Any, tmp_path: Path
) -> None:
    spec = exported_once(make_simulator, tmp_path / "out")
    assert run(spec) == 0  # its plan reads the new manifests and writes the cache
    cache_path = tmp_path / "out" / "pi" / CACHE_NAME
    truth = [summarise(m) for m in complete_manifests(spec.output, "pi")]
    assert len(truth) == 5  # the 22nd to the 26th
    assert manifest_summaries(spec.output, "pi") == truth
    # A cached entry is taken as it is while its manifest's size and time are unchanged...
    cache = orjson.loads(cache_path.read_bytes())
    name = truth[2]["snapshot"]
    cache["snapshots"][name]["summary"]["records"] = 123456789
    cache_path.write_bytes(orjson.dumps(cache))
    assert manifest_summaries(spec.output, "pi")[2]["records"] == 123456789
    # ...and no longer once the listing shows that manifest changed: read again.
    manifest = tmp_path / "out" / "pi" / name / MANIFEST_NAME
    stat = manifest.stat()
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert manifest_summaries(spec.output, "pi") == truth


def test_a_cached_window_whose_manifest_is_gone_is_exported_again(
    make_simulator: Any, tmp_path: Path
) -> None:
    spec = exported_once(make_simulator, tmp_path / "out")
    before = windows_of(spec)
    assert run(spec) == 0  # up to date: the cache now names every window
    lost = before[1]
    folder = next(
        s["snapshot"]
        for s in manifest_summaries(spec.output, "pi")
        if s["incremental"]["from_ms"] == lost[0]
    )
    (tmp_path / "out" / "pi" / folder / MANIFEST_NAME).unlink()
    assert run(spec) == lost[2] > 0  # that window again, and only it
    assert windows_of(spec) == before


def test_a_torn_or_foreign_cache_is_rebuilt_from_the_manifests(
    make_simulator: Any, tmp_path: Path
) -> None:
    spec = exported_once(make_simulator, tmp_path / "out")
    cache_path = tmp_path / "out" / "pi" / CACHE_NAME
    truth = [summarise(m) for m in complete_manifests(spec.output, "pi")]
    for content in (b"", b'{"cache_version": 1, "snapshots": {"x', b'{"cache_version": 99}'):
        cache_path.write_bytes(content)
        assert run(spec) == 0  # nothing exported twice, nothing skipped
        assert orjson.loads(cache_path.read_bytes())["cache_version"] == 1  # rebuilt
        assert manifest_summaries(spec.output, "pi") == truth
