"""A/B-measure the candidate optimisations of bench/candidate_patches.py on the fast scenario.

    .venv/bin/python bench/candidates.py --format parquet --runs 5
    .venv/bin/python bench/candidates.py --format jsonl --variant base= --variant stream=stream
    .venv/bin/python bench/candidates.py --api v2 --variant before=@/tmp/before --variant after=

Each variant is ``NAME=CANDIDATES`` (comma-separated patch names, empty = the exporter as it is);
``NAME=@PATH`` runs the ``exporter`` package found in directory PATH instead (e.g. an extract of
an earlier commit: ``git archive HEAD~1 exporter | tar -x -C /tmp/before``), for before/after.
Runs are interleaved round by round with the limit; every output is counted like in bench/run.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for entry in (str(BENCH_DIR), str(REPO)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import yaml  # noqa: E402
from clients import establish_truth, export_spec, run_limit  # noqa: E402
from harness import (  # noqa: E402
    HarnessError,
    SimulatorProcess,
    check_count,
    count_jsonl_lines,
    count_parquet_rows,
    run_measured,
)

DEFAULT_VARIANTS = [
    "as-is=",
    "dict=dict",
    "extras=extras",
    "stream=stream",
    "env=env",
    "all=dict,extras,stream,env",
]
FLOWNODES = "flownode-instances"

from exporter.api import get_endpoint  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", choices=("parquet", "jsonl"), default="parquet")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--api", choices=("v1", "v2"), default="v1", help="the API paged")
    parser.add_argument("--variant", action="append", help="NAME=CANDIDATES (repeatable)")
    args = parser.parse_args(argv)
    variants = dict(v.split("=", 1) for v in (args.variant or DEFAULT_VARIANTS))
    (REPO / ".bench").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="candidates-", dir=REPO / ".bench"))
    counter = count_parquet_rows if args.format == "parquet" else count_jsonl_lines
    try:
        with SimulatorProcess(
            scale=args.scale, seed=7, latency_ms=0, log_path=work / "simulator.log", api=args.api
        ) as sim:
            endpoint = get_endpoint(FLOWNODES, args.api)
            sort_key = endpoint.unique_key if args.api == "v2" else ""
            expected = establish_truth(sim, endpoint.path, 1000, args.api, sort_key)
            out_dir = work / "out"
            spec = export_spec(
                sim.base_url,
                [{"endpoint": FLOWNODES, "page_size": 1000}],
                fmt=args.format,
                out_dir=out_dir,
                api=args.api,
            )
            spec_path = work / "spec.yaml"
            spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")

            def code(tree: str | None) -> str:
                first = f"sys.path.insert(0, {tree!r}); " if tree else ""
                return (
                    f"import sys; {first}sys.path.insert(1, {str(BENCH_DIR)!r}); "
                    "import candidate_patches; "
                    f"sys.argv = ['operate-export', 'run', {str(spec_path)!r}]; "
                    "from exporter.cli.app import main; main()"
                )

            results: dict[str, list[tuple[float, float, int]]] = {"limit": []}
            for _ in range(args.runs):
                limit = run_limit(sim, endpoint.path, 1000, expected, work, args.api, sort_key)
                results["limit"].append((limit.wall_s, limit.cpu_s, 0))
                for name, candidates in variants.items():
                    shutil.rmtree(out_dir, ignore_errors=True)
                    tree = candidates[1:] if candidates.startswith("@") else None
                    wall, cpu, _, _ = run_measured(
                        [sys.executable, "-c", code(tree)],
                        log_path=work / f"{name}.log",
                        timeout_s=1800,
                        env={**os.environ, "CANDIDATES": "" if tree else candidates},
                    )
                    check_count(name, counter(out_dir / FLOWNODES), expected)
                    size = sum(f.stat().st_size for f in out_dir.rglob(f"*.{args.format}"))
                    results.setdefault(name, []).append((wall, cpu, size))
        limit_wall = statistics.median(w for w, _, _ in results["limit"])
        print(f"{args.api} {args.format}, {expected} records, median of {args.runs} runs")
        print(f"{'variant':10} {'wall s':>7} {'CPU s':>6} {'x limit':>8} {'output MB':>10}")
        for name, samples in results.items():
            wall = statistics.median(w for w, _, _ in samples)
            cpu = statistics.median(c for _, c, _ in samples)
            size = samples[0][2] / 1e6
            print(f"{name:10} {wall:7.2f} {cpu:6.2f} {wall / limit_wall:7.2f}x {size:10.1f}")
    except HarnessError as exc:
        print(f"ABORTED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
