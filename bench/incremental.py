"""Issue 15 point 9 (informal, not yet a ``make bench`` scenario): an incremental run after one
simulated hour of activity against a full export of the same exports, on a live simulator of
100,000 instances (in this process).

    .venv/bin/python bench/incremental.py v2 [scale]
    .venv/bin/python bench/incremental.py v1 [scale]

Process instances, flow node instances, incidents and decision instances, page size 1000,
Parquet. The simulator's caches are warmed by one full export first; the incremental exports
backfill from ``start`` once; then the clock advances (v2: 1 h; v1: 1 h 15 min, so that the
hour of activity is a whole ||/h bucket before the 15 min lag) and a full export and an
incremental run are timed. Requests are the runs' own counts plus the one search the
incremental run sends to read the server's clock (auth none: no earlier answer carries a Date).
"""

from __future__ import annotations

import sys
import tempfile
import time
from typing import Any

from exporter import load_spec, run_job
from exporter.simulator import Simulator, SimulatorConfig

EXPORTS = [
    ("process-instances", "endDate"),
    ("flownode-instances", "endDate"),
    ("incidents", "creationTime"),
    ("decision-instances", "evaluationDate"),
]
CLOCK_REQUESTS = 1


def job(sim: Simulator, api: str, out: str, incremental: bool) -> Any:
    exports: list[dict[str, Any]] = []
    for endpoint, field in EXPORTS:
        export: dict[str, Any] = {"endpoint": endpoint, "page_size": 1000}
        if incremental:
            # v2: one window per export for the history; v1: hourly buckets of the last day
            start, window = ("2026-08-01T00:00:00Z", "P400D")
            if api == "v1":
                start, window = ("2026-11-26T00:00:00Z", "PT1H")
            export["incremental"] = {"field": field, "start": start, "window": window}
        exports.append(export)
    document = {
        "version": 1,
        "source": {"base_url": sim.base_url, "api": api},
        "retention": "P400D",
        "concurrency": 4,
        "exports": exports,
        "output": {"format": "parquet", "path": out},
    }
    return load_spec(document)


def timed(spec: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = run_job(spec)
    assert result.ok, [e.error for e in result.exports if not e.ok]
    return result, time.perf_counter() - started


def main(api: str, scale: int) -> None:
    sim = Simulator(SimulatorConfig(scale=scale, seed=7, port=0, live=True, api="both")).start()
    try:
        timed(job(sim, api, tempfile.mkdtemp(), False))  # warm the simulator's caches
        incremental_out = tempfile.mkdtemp()
        timed(job(sim, api, incremental_out, True))  # the backfill that sets the watermark
        sim.clock.advance("PT1H" if api == "v2" else "PT1H15M")
        full, full_s = timed(job(sim, api, tempfile.mkdtemp(), False))
        inc, inc_s = timed(job(sim, api, incremental_out, True))
    finally:
        sim.stop()
    full_requests = sum(e.requests for e in full.exports)
    inc_requests = sum(e.requests for e in inc.exports) + CLOCK_REQUESTS
    print(
        f"{api} scale {scale}: full {full_requests} requests {full_s:.2f} s "
        f"{sum(e.records for e in full.exports)} records; incremental {inc_requests} requests "
        f"{inc_s:.2f} s {sum(e.records for e in inc.exports)} records in {len(inc.exports)} "
        f"windows; requests {inc_requests / full_requests:.2%} (target <= 2%), "
        f"time {inc_s / full_s:.2%} (target <= 5%)"
    )


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "v2",
        int(sys.argv[2]) if len(sys.argv) > 2 else 100_000,
    )
