"""The canonical conversion's own cost per record, without HTTP or threads (issue 14's regression).

    .venv/bin/python bench/canonical_convert.py [--endpoint flownode-instances] [--pages 80]

Pages of the simulator's v1 search records (1,000 a page, the fast scenario's data) are parsed,
converted and serialised as the JSONL writer does, three ways interleaved round by round:
``native`` (no conversion: the work before issue 14), ``per-record`` (``convert_record`` on each
record, issue 14's loop and the reference) and ``bulk`` (``convert_records``: the plans of
api/canonical_pages.py). Prints the best process CPU time per record of each over the rounds;
the differences to ``native`` are what the conversion adds to a v1 JSONL export.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import orjson  # noqa: E402

from exporter.api import get_endpoint  # noqa: E402
from exporter.api.canonical import converter  # noqa: E402
from exporter.simulator import Simulator, SimulatorConfig  # noqa: E402

PAGE = 1000


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default="flownode-instances")
    parser.add_argument("--pages", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--scale", type=int, default=20_000)
    args = parser.parse_args(argv)

    simulator = Simulator(SimulatorConfig(scale=args.scale, seed=7, port=0))  # never started
    records = simulator.dataset.search_view(args.endpoint, "v1")
    pages = [orjson.dumps(records[i : i + PAGE]) for i in range(0, len(records), PAGE)]
    pages = pages[: args.pages]
    count = sum(len(orjson.loads(p)) for p in pages)
    conv = converter(get_endpoint(args.endpoint, "v1"), "canonical")
    assert conv is not None

    def native() -> None:
        for page in pages:
            b"\n".join(map(orjson.dumps, orjson.loads(page)))

    def per_record() -> None:
        for page in pages:
            b"\n".join(map(orjson.dumps, map(conv.convert_record, orjson.loads(page))))

    def bulk() -> None:
        for page in pages:
            b"\n".join(map(orjson.dumps, conv.convert_records(orjson.loads(page))))

    ways: dict[str, Callable[[], None]] = {
        "native": native,
        "per-record": per_record,
        "bulk": bulk,
    }
    best = {name: float("inf") for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():
            start = time.process_time()
            way()
            best[name] = min(best[name], time.process_time() - start)
    print(f"{args.endpoint}: {count} records in {len(pages)} pages, best of {args.rounds} rounds")
    print(f"{'way':11} {'us/record':>9} {'conversion us':>13}")
    for name, seconds in best.items():
        per = seconds / count * 1e6
        added = (seconds - best["native"]) / count * 1e6
        print(f"{name:11} {per:9.2f} {added:13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
