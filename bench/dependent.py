"""Issue 16 point 6: a dependent export of the variables of 10,000 finished instances, v1 and
v2, requests and wall time (informal, not a ``make bench`` scenario).

    .venv/bin/python bench/dependent.py [instances] [rounds]

One simulator (``--api both``, in a process of its own so that its work does not share this
interpreter's GIL) with enough instances that ``instances`` of them are COMPLETED. The parent
exports those (``filter: state COMPLETED``, ``max_records: instances``, page size 1000), the
child their variables (``parent`` on processInstanceKey, page size 1000, batch size 100,
concurrency 4), Parquet, twice: without hydration (the requests are the searches, the ``$in``
path against one search per instance) and with it (the simulator truncates some of the
values, and each costs one GET on either API). v1 and v2 alternate for ``rounds`` rounds; the
table gives per API and scenario the best wall time, the run's requests (searches + lookups,
counted by the exporter) and the simulator's count of variable searches, then the ratios.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

from exporter import load_spec, run_job

COMPLETED_SHARE = 0.7  # at most this share of the simulator's instances is COMPLETED (seeded: 0.72)


def start_simulator(scale: int) -> tuple[subprocess.Popen[bytes], str]:
    port = 18000 + scale % 1000
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "simulate",
            "--api",
            "both",
            "--port",
            str(port),
            "--scale",
            str(scale),
            "--seed",
            "7",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/__sim/stats", timeout=1).read()
            return process, base
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the simulator did not start")


def sim_stats(base: str, reset: bool = False) -> dict[str, Any]:
    if reset:
        request = urllib.request.Request(f"{base}/__sim/stats/reset", data=b"", method="POST")
        urllib.request.urlopen(request).read()
        return {}
    return dict(json.loads(urllib.request.urlopen(f"{base}/__sim/stats").read()))


def spec(base: str, api: str, instances: int, out: str, hydrate: bool) -> Any:
    field = "key" if api == "v1" else "processInstanceKey"
    return load_spec(
        {
            "version": 1,
            "source": {"base_url": base, "api": api},
            "concurrency": 4,
            "exports": [
                {
                    "endpoint": "process-instances",
                    "name": "finished",
                    "filter": {"state": "COMPLETED"},
                    "max_records": instances,
                    "page_size": 1000,
                },
                {
                    "endpoint": "variables",
                    "name": "vars",
                    "page_size": 1000,
                    "hydrate": hydrate,
                    "parent": {
                        "export": "finished",
                        "field": field,
                        "filter_field": "processInstanceKey",
                        "batch_size": 100,
                    },
                },
            ],
            "output": {"format": "parquet", "path": out},
        }
    )


def one_run(base: str, api: str, instances: int, hydrate: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out:
        sim_stats(base, reset=True)
        started = time.perf_counter()
        result = run_job(spec(base, api, instances, out, hydrate))
        seconds = time.perf_counter() - started
        assert result.ok, [e.error for e in result.exports]
        stats = sim_stats(base)
    by_name = {e.name: e for e in result.exports}
    assert by_name["finished"].records == instances, "too few COMPLETED instances: raise scale"
    return {
        "seconds": seconds,
        "parents": by_name["finished"].records,
        "variables": by_name["vars"].records,
        "requests": sum(e.requests for e in result.exports),
        "child_requests": by_name["vars"].requests,
        "variable_searches": stats["searches"].get("variables", 0),
        "variable_gets": stats["gets"].get("variables", 0),
    }


def main() -> None:
    instances = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    process, base = start_simulator(int(instances / COMPLETED_SHARE))
    try:
        best: dict[tuple[bool, str], dict[str, Any]] = {}
        for round_ in range(rounds):
            for hydrate in (False, True):
                for api in ("v1", "v2") if round_ % 2 == 0 else ("v2", "v1"):
                    run = one_run(base, api, instances, hydrate)
                    print(
                        api, "hydrate" if hydrate else "no hydration", json.dumps(run), flush=True
                    )
                    key = (hydrate, api)
                    if key not in best or run["seconds"] < best[key]["seconds"]:
                        best[key] = run
    finally:
        process.terminate()
        process.wait()
    print(
        "\n| scenario | API | parents | variables | requests (searches + lookups) "
        "| variable searches | best wall time |"
    )
    print("|---|---|---|---|---|---|---|")
    for (hydrate, api), run in best.items():
        scenario = "hydrate" if hydrate else "no hydration"
        print(
            f"| {scenario} | {api} | {run['parents']:,} | {run['variables']:,} "
            f"| {run['requests']:,} | {run['variable_searches']:,} | {run['seconds']:.2f} s |"
        )
    for hydrate in (False, True):
        v1, v2 = best[(hydrate, "v1")], best[(hydrate, "v2")]
        print(
            f"{'hydrate' if hydrate else 'no hydration'}: v1/v2 requests "
            f"{v1['requests'] / v2['requests']:.1f}x, variable searches "
            f"{v1['variable_searches'] / v2['variable_searches']:.1f}x, wall time "
            f"{v1['seconds'] / v2['seconds']:.1f}x (target: v2 >= 20x fewer requests)"
        )


if __name__ == "__main__":
    main()
