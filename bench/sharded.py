"""Issue 17 point 5: one export of >= 500,000 flow node instances against a simulator that adds
50 ms to every search, unsharded and in 8 shards (target: 8 shards <= 0.2x the unsharded wall
time; the simulator's highest count of requests in flight never above the run's cap).

    .venv/bin/python bench/sharded.py                  # scale 115,000 (~505,000 records)
    .venv/bin/python bench/sharded.py --scale 20000    # smoke run
    .venv/bin/python bench/sharded.py --runs 3         # best of 3 of each, interleaved

The simulator runs in its own process (``SimulatorProcess``: the server's work does not share
the exporter's interpreter). One sharded run first warms the simulator's caches (records are
encoded on first use); then unsharded and sharded runs alternate and the best of each counts.
The export is Parquet, page size 1000, ``source.max_in_flight`` 8; the simulator's stats are
reset before each run and its ``max_in_flight`` read after it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for entry in (str(BENCH_DIR), str(REPO)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from harness import SimulatorProcess  # noqa: E402

from exporter import load_spec, run_job  # noqa: E402

TARGET_RATIO = 0.2
CAP = 8


def spec(base_url: str, out: str, shards: int) -> Any:
    export: dict[str, Any] = {"endpoint": "flownode-instances", "page_size": 1000}
    if shards > 1:
        export["shards"] = shards
    return load_spec(
        {
            "version": 1,
            "source": {"base_url": base_url, "api": "v1", "max_in_flight": CAP},
            "exports": [export],
            "output": {"format": "parquet", "path": out},
        }
    )


def timed(sim: SimulatorProcess, base_url: str, shards: int) -> tuple[float, int, int]:
    """(seconds, records, the simulator's max in flight) of one run."""
    sim._session.post(f"{base_url}/__sim/stats/reset", timeout=30).raise_for_status()
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = run_job(spec(base_url, out, shards))
        seconds = time.perf_counter() - started
    assert result.ok, [e.error for e in result.exports]
    return seconds, result.exports[0].records, int(sim.stats()["max_in_flight"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=115_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    log = Path(tempfile.mkdtemp(prefix="bench-sharded-")) / "simulator.log"
    started = time.perf_counter()
    with SimulatorProcess(
        scale=args.scale, seed=7, latency_ms=args.latency_ms, log_path=log
    ) as sim:
        print(f"simulator up after {time.perf_counter() - started:.1f} s ({sim.base_url})")
        warm = timed(sim, sim.base_url, args.shards)
        print(f"warm-up ({args.shards} shards): {warm[0]:.2f} s, {warm[1]} records")
        plain: list[tuple[float, int, int]] = []
        sharded: list[tuple[float, int, int]] = []
        for run in range(args.runs):
            plain.append(timed(sim, sim.base_url, 1))
            sharded.append(timed(sim, sim.base_url, args.shards))
            print(
                f"run {run + 1}: unsharded {plain[-1][0]:.2f} s (max in flight {plain[-1][2]}), "
                f"{args.shards} shards {sharded[-1][0]:.2f} s (max in flight {sharded[-1][2]})"
            )
    records = {r for _, r, _ in plain + sharded}
    best_plain, best_sharded = min(s for s, _, _ in plain), min(s for s, _, _ in sharded)
    ratio = best_sharded / best_plain
    in_flight = max(m for _, _, m in plain + sharded)
    verdict = "PASS" if ratio <= TARGET_RATIO and in_flight <= CAP else "FAIL"
    print(
        f"flownode-instances {sorted(records)} records, latency {args.latency_ms} ms: "
        f"unsharded {best_plain:.2f} s, {args.shards} shards {best_sharded:.2f} s = "
        f"{ratio:.3f}x (target <= {TARGET_RATIO}x); simulator max in flight {in_flight} "
        f"(cap {CAP}) -> {verdict}"
    )
    if len(records) != 1:
        print("error: the runs exported different record counts", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
