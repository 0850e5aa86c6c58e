"""Issue 6 point 5: ``run --resume`` after SIGKILL yields exactly an uninterrupted run's records.

The real CLI runs as a subprocess against the simulator (with added latency, so that a run lasts
long enough to be killed in the middle). Kill points are found by polling the snapshot directory
for checkpoints, never by sleeping blind: after the first checkpoint, mid-way, and near the end.
Each kill is followed by a ``--resume`` run that is killed at the next point, and a last resume
runs to completion. The finished snapshot is then read back part by part (sha256, sizes and row
counts recomputed) and compared with an uninterrupted run and with the simulator's truth: same
records, same order, so no duplicates and no gaps.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from exporter.api import get_endpoint
from exporter.api.types import Kind
from exporter.simulator import FaultConfig, Simulator
from exporter.sinks import CHECKPOINT_NAME, EXTRA_COLUMN, INCOMPLETE_NAME, MANIFEST_NAME

MakeSim = Callable[..., Simulator]
REPO = Path(__file__).resolve().parent.parent
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"
ROWS_PER_FILE = 40
HANG_GUARD_SECONDS = 60.0  # only stops a broken run from hanging the suite; never asserted on

# Two exports: one plain, one filtered and sorted by a date (DESC), so the resume cursor carries
# a sort value as well as the tie-breaker key.
EXPORTS: dict[str, dict[str, Any]] = {
    "vars": {"endpoint": "variables", "page_size": 20},
    "completed": {
        "endpoint": "process-instances",
        "page_size": 10,
        "filter": {"state": "COMPLETED"},
        "sort": [("endDate", "DESC")],
    },
}


# --------------------------------------------------------------------------- spec and process


def write_spec(path: Path, base_url: str, out: Path, fmt: str) -> Path:
    lines = [
        "version: 1",
        f'source: {{base_url: "{base_url}", api: v1, retry: {{initial_backoff_seconds: 0.01}}}}',
        "concurrency: 2",
        "exports:",
    ]
    for name, export in EXPORTS.items():
        lines.append(f"  - endpoint: {export['endpoint']}")
        lines.append(f"    name: {name}")
        lines.append(f"    page_size: {export['page_size']}")
        for field, value in export.get("filter", {}).items():
            lines.append(f"    filter: {{{field}: {value}}}")
        if export.get("sort"):
            sorts = ", ".join(f"{{field: {f}, order: {o}}}" for f, o in export["sort"])
            lines.append(f"    sort: [{sorts}]")
    compression = "gzip" if fmt == "jsonl" else "zstd"
    lines.append(
        f'output: {{format: {fmt}, schema: native, compression: {compression}, path: "{out}", '
        f"rows_per_file: {ROWS_PER_FILE}, row_group_size: 15}}"
    )
    path.write_text("\n".join(lines) + "\n")
    return path


def start_run(spec: Path, *options: str) -> subprocess.Popen[bytes]:
    log = spec.parent / f"run-{time.monotonic_ns()}.log"
    with log.open("wb") as sink:  # a file, not a pipe: a full pipe would stall the child
        return subprocess.Popen(
            [sys.executable, "-m", "exporter", "run", str(spec), *options],
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def finish(proc: subprocess.Popen[bytes]) -> str:
    code = proc.wait(timeout=HANG_GUARD_SECONDS)
    log = Path(str(proc.args[4])).parent  # the spec's directory holds the logs
    text = "\n".join(p.read_text() for p in sorted(log.glob("run-*.log")))
    assert code == 0, f"run exited {code}:\n{text}"
    return text


# --------------------------------------------------------------------------- snapshot reading


def snapshots(out: Path, export: str) -> list[Path]:
    directory = out / export
    return sorted(directory.glob("snapshot=*")) if directory.exists() else []


def checkpoint_records(out: Path, export: str) -> int:
    """Records in the newest snapshot's checkpoint (0 when there is none yet)."""
    found = snapshots(out, export)
    if not found:
        return 0
    try:
        data = orjson.loads((found[-1] / CHECKPOINT_NAME).read_bytes())
    except FileNotFoundError:
        return 0
    return int(data["records"])


def kill_when(proc: subprocess.Popen[bytes], reached: Callable[[], bool], what: str) -> None:
    """SIGKILL the run as soon as ``reached()`` is true; fail if the run ended before that."""
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while not reached():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"hang guard: never reached {what}")
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=HANG_GUARD_SECONDS) == -signal.SIGKILL, f"not killed at {what}"


def assert_killed_state(out: Path) -> None:
    """The newest snapshot of each unfinished export: no manifest, an _INCOMPLETE marker."""
    unfinished = [e for e in EXPORTS if not (snapshots(out, e)[-1] / MANIFEST_NAME).exists()]
    assert unfinished, "the kill came after every export had finished"
    for export in unfinished:
        newest = snapshots(out, export)[-1]
        assert (newest / INCOMPLETE_NAME).exists()
        marker = orjson.loads((newest / INCOMPLETE_NAME).read_bytes())
        assert marker["status"] == "in progress"


def read_part(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "parquet":
        return parquet_records(pq.read_table(path).to_pylist())
    return [orjson.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def complete_snapshot(out: Path, export: str, fmt: str) -> tuple[dict[str, Any], list[dict]]:
    """The newest snapshot, which must be complete: its manifest, checked against the files,
    and all its records in part order."""
    newest = snapshots(out, export)[-1]
    manifest = orjson.loads((newest / MANIFEST_NAME).read_bytes())
    leftovers = {CHECKPOINT_NAME, INCOMPLETE_NAME} & {p.name for p in newest.iterdir()}
    assert not leftovers, f"{newest.name}: {leftovers} left next to the manifest"
    listed = [f["name"] for f in manifest["files"]]
    on_disk = sorted(p.name for p in newest.iterdir() if p.name != MANIFEST_NAME)
    assert listed == on_disk, "the manifest lists exactly the part files, in order"
    records: list[dict[str, Any]] = []
    for entry in manifest["files"]:
        path = newest / entry["name"]
        data = path.read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        part = read_part(path, fmt)
        assert entry["rows"] == len(part)
        assert 0 < len(part) <= ROWS_PER_FILE
        records += part
    assert manifest["records"] == len(records)
    return manifest, records


# --------------------------------------------------------------------------- the truth


def parquet_records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parquet rows back to records: nulls dropped (Operate omits them), _extra overlaid."""
    out = []
    for row in rows:
        extra = row.pop(EXTRA_COLUMN)
        record = {k: v for k, v in row.items() if v is not None}
        if extra is not None:
            record.update(orjson.loads(extra))
        out.append(record)
    return out


def as_parquet_reads_them(records: list[dict[str, Any]], endpoint: str) -> list[dict[str, Any]]:
    """API records with the documented Parquet conversion: dates become UTC datetimes."""
    dates = set(get_endpoint(endpoint).fields_of_kind(Kind.DATE))
    return [
        {
            k: dt.datetime.strptime(v, DATE_FORMAT).astimezone(dt.UTC) if k in dates else v
            for k, v in r.items()
            if v is not None
        }
        for r in records
    ]


def truth(sim: Simulator, export: str, fmt: str) -> list[dict[str, Any]]:
    spec = EXPORTS[export]
    endpoint = get_endpoint(spec["endpoint"])
    rows = sim.dataset.records(spec["endpoint"])
    for field, wanted in spec.get("filter", {}).items():
        rows = [r for r in rows if r.get(field) == wanted]
    rows = sorted(rows, key=lambda r: r[endpoint.unique_key])
    for field, order in reversed(spec.get("sort", [])):  # stable: the key stays the tie-breaker
        rows = sorted(
            rows,
            key=lambda r: dt.datetime.strptime(r[field], DATE_FORMAT),
            reverse=order == "DESC",
        )
    return as_parquet_reads_them(rows, spec["endpoint"]) if fmt == "parquet" else rows


def unique_keys(records: list[dict[str, Any]], export: str) -> list[Any]:
    return [r[get_endpoint(EXPORTS[export]["endpoint"]).unique_key] for r in records]


# --------------------------------------------------------------------------- tests


@pytest.fixture
def sim(make_simulator: MakeSim) -> Simulator:
    return make_simulator(scale=150, seed=23, faults=FaultConfig(latency_ms=12))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_sigkill_at_several_points_then_resume_equals_uninterrupted_run(
    sim: Simulator, tmp_path: Path, fmt: str
) -> None:
    wanted = {name: truth(sim, name, fmt) for name in EXPORTS}
    assert len(wanted["vars"]) > 8 * ROWS_PER_FILE  # many parts, many checkpoints
    assert len(wanted["completed"]) > 2 * ROWS_PER_FILE

    baseline_out = tmp_path / "baseline"
    finish(start_run(write_spec(tmp_path / "baseline.yaml", sim.base_url, baseline_out, fmt)))
    baseline = {name: complete_snapshot(baseline_out, name, fmt)[1] for name in EXPORTS}

    out = tmp_path / "out"
    spec = write_spec(tmp_path / "job.yaml", sim.base_url, out, fmt)
    total = len(wanted["vars"])
    points: list[tuple[str, Callable[[], bool]]] = [
        ("the first checkpoint", lambda: checkpoint_records(out, "vars") > 0),
        ("half of the records", lambda: checkpoint_records(out, "vars") >= total // 2),
        ("the last parts", lambda: checkpoint_records(out, "vars") >= total - 3 * ROWS_PER_FILE),
    ]
    options: tuple[str, ...] = ()
    durable_before = 0
    for what, reached in points:
        kill_when(start_run(spec, *options), reached, what)
        assert_killed_state(out)
        # A resume continues the same snapshot: the durable parts stay, nothing restarts.
        durable = checkpoint_records(out, "vars")
        assert durable >= durable_before
        durable_before = durable
        assert len(snapshots(out, "vars")) == 1
        options = ("--resume",)
    finish(start_run(spec, "--resume"))

    for name in EXPORTS:
        records = complete_snapshot(out, name, fmt)[1]
        assert records == baseline[name]
        assert records == wanted[name]
        keys = unique_keys(records, name)
        assert len(set(keys)) == len(keys), "duplicates"
        assert set(keys) == set(unique_keys(wanted[name], name)), "gaps"
    vars_manifest = complete_snapshot(out, "vars", fmt)[0]
    # Resumed by each --resume run: the two that were killed and the one that finished.
    assert len(vars_manifest["resumed_at"]) == len(points)
    assert vars_manifest["records"] == total
    assert len(snapshots(out, "vars")) == 1  # the killed snapshot itself was completed


def test_resume_with_nothing_to_resume_starts_fresh(sim: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "out"
    finish(start_run(write_spec(tmp_path / "job.yaml", sim.base_url, out, "jsonl"), "--resume"))
    for name in EXPORTS:
        manifest, records = complete_snapshot(out, name, "jsonl")
        assert records == truth(sim, name, "jsonl")
        assert manifest["resumed_at"] == []
        assert len(snapshots(out, name)) == 1


@pytest.mark.slow
def test_kill_before_the_first_checkpoint_then_resume_starts_a_fresh_snapshot(
    sim: Simulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    spec = write_spec(tmp_path / "job.yaml", sim.base_url, out, "parquet")
    # Every answer takes 30 s, so no page (and no checkpoint) can land before the kill.
    sim.set_faults(FaultConfig(latency_ms=30_000))

    def started() -> bool:
        found = snapshots(out, "vars")
        return bool(found) and (found[-1] / INCOMPLETE_NAME).exists()

    kill_when(start_run(spec), started, "the snapshot directory appears")
    killed = snapshots(out, "vars")
    assert len(killed) == 1
    assert not (killed[0] / MANIFEST_NAME).exists()
    assert not (killed[0] / CHECKPOINT_NAME).exists()
    sim.set_faults(FaultConfig(latency_ms=0))
    finish(start_run(spec, "--resume"))
    now = snapshots(out, "vars")
    assert len(now) == 2 and now[0] == killed[0]
    assert not (now[0] / MANIFEST_NAME).exists() and (now[0] / INCOMPLETE_NAME).exists()
    manifest, records = complete_snapshot(out, "vars", "parquet")
    assert records == truth(sim, "vars", "parquet")
    assert manifest["resumed_at"] == []
