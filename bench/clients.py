"""The measured clients: the limit, the dlt peer and operate-export, each one run = one Sample.

Every run writes into a fresh folder, its output is counted (Parquet row metadata, JSONL lines)
and compared with the simulator's truth before its time is accepted; the folder is then removed.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml
from harness import (
    BENCH_DIR,
    HarnessError,
    Sample,
    SimulatorProcess,
    check_count,
    count_jsonl_lines,
    count_parquet_rows,
    run_measured,
)
from limit_client import fetch_all

CHILD_TIMEOUT_S = 1800.0


def establish_truth(
    sim: SimulatorProcess, endpoint_path: str, page_size: int, api: str = "v1", sort_key: str = ""
) -> int:
    """Page through once (unmeasured; also warms the server) and make the server confirm the count.

    ``total`` in search responses is capped at 10,000, so the count comes from paging, checked
    against the simulator's own ``items_served`` counter for exactly that pass.
    """
    before = sim.items_served()
    records, _ = fetch_all(sim.base_url, endpoint_path, page_size, api, sort_key)
    served = sim.items_served() - before
    if served != records:
        raise HarnessError(
            f"{endpoint_path}: paged {records} records but the simulator served {served}"
        )
    if records == 0:
        raise HarnessError(f"{endpoint_path}: the simulator holds no records")
    return records


def run_limit(
    sim: SimulatorProcess,
    endpoint_path: str,
    page_size: int,
    expected: int,
    work: Path,
    api: str = "v1",
    sort_key: str = "",
) -> Sample:
    command = [
        sys.executable, str(BENCH_DIR / "limit_client.py"), sim.base_url, endpoint_path,
        str(page_size), api, sort_key,
    ]  # fmt: skip
    wall, cpu, rss, stdout = run_measured(
        command, log_path=work / "limit.log", timeout_s=CHILD_TIMEOUT_S
    )
    records = int(orjson.loads(stdout.strip().splitlines()[-1])["records"])
    check_count("limit", records, expected)
    return Sample(wall, cpu, rss, records)


def run_dlt(
    sim: SimulatorProcess,
    endpoint_path: str,
    page_size: int,
    expected: int,
    work: Path,
    python: str,
) -> Sample:
    out_dir = work / "dlt-out"
    shutil.rmtree(out_dir, ignore_errors=True)
    command = [
        python, str(BENCH_DIR / "dlt_peer.py"), sim.base_url, endpoint_path, str(page_size),
        str(out_dir),
    ]  # fmt: skip
    wall, cpu, rss, stdout = run_measured(
        command, log_path=work / "dlt.log", timeout_s=CHILD_TIMEOUT_S
    )
    table = orjson.loads(stdout.strip().splitlines()[-1])["table"]
    records = count_parquet_rows(out_dir / "bucket" / "operate" / table)
    check_count("dlt", records, expected)
    shutil.rmtree(out_dir, ignore_errors=True)
    return Sample(wall, cpu, rss, records)


def export_spec(
    base_url: str,
    exports: list[dict[str, Any]],
    *,
    fmt: str,
    out_dir: Path,
    concurrency: int | None = None,
    api: str = "v1",
) -> dict[str, Any]:
    """A job spec as operate-export's users write it; ``concurrency=None`` keeps the default."""
    spec: dict[str, Any] = {
        "version": 1,
        # api pinned: the limit (and the dlt peer) page the same API's search endpoints.
        "source": {"base_url": base_url, "api": api, "auth": {"mode": "none"}},
        "exports": exports,
        "output": {"format": fmt, "path": str(out_dir)},
    }
    if concurrency is not None:
        spec["concurrency"] = concurrency
    return spec


def run_export(
    spec: dict[str, Any], expected_by_name: Mapping[str, int], work: Path, label: str
) -> Sample:
    """``python -m exporter run SPEC`` as a child; every export's output is counted."""
    out_dir = Path(spec["output"]["path"])
    shutil.rmtree(out_dir, ignore_errors=True)
    spec_path = work / f"{label}.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    command = [sys.executable, "-m", "exporter", "run", str(spec_path)]
    wall, cpu, rss, _ = run_measured(
        command, log_path=work / f"{label}.log", timeout_s=CHILD_TIMEOUT_S
    )
    counter = count_parquet_rows if spec["output"]["format"] == "parquet" else count_jsonl_lines
    total = 0
    for name, expected in expected_by_name.items():
        got = counter(out_dir / name)
        check_count(f"operate-export {label} [{name}]", got, expected)
        total += got
    shutil.rmtree(out_dir, ignore_errors=True)
    return Sample(wall, cpu, rss, total)


def run_split_writer(
    sim: SimulatorProcess, endpoint_name: str, page_size: int, expected: int, work: Path, fmt: str
) -> Sample:
    """The split-process prototype (bench/split_writer.py); CPU includes its writer child."""
    out_file = work / f"split.{fmt}"
    out_file.unlink(missing_ok=True)
    command = [
        sys.executable, str(BENCH_DIR / "split_writer.py"), sim.base_url, endpoint_name,
        str(page_size), str(out_file), fmt,
    ]  # fmt: skip
    wall, cpu, rss, stdout = run_measured(
        command, log_path=work / f"split-{fmt}.log", timeout_s=CHILD_TIMEOUT_S
    )
    if fmt == "parquet":
        records = count_parquet_rows(out_file.parent, pattern=out_file.name)
    else:
        records = count_jsonl_lines(out_file.parent, pattern=out_file.name)
    check_count(f"split-writer {fmt}", records, expected)
    reported = int(orjson.loads(stdout.strip().splitlines()[-1])["records"])
    check_count(f"split-writer {fmt} (own count)", reported, expected)
    out_file.unlink(missing_ok=True)
    return Sample(wall, cpu, rss, records)
