"""Profile operate-export on the fast-server scenario with py-spy and print the hotspots.

    .venv/bin/python bench/profile_export.py [--format parquet|jsonl] [--scale 100000] [--rate 200]

py-spy samples every thread of the child process (the exporter pages in a producer thread and
writes in an export thread, so a main-thread profiler such as pyinstrument would see only waits).
By default only the thread holding the GIL is sampled (``py-spy --gil``): the percentages are then
shares of the exporter's Python CPU time, without threads that merely wait for the GIL (which
py-spy's idle detection counts as busy). ``--all-threads`` adds C work that releases the GIL
(Parquet encoding, zstd) at the price of those waits. ``--keep`` saves the raw collapsed stacks.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for entry in (str(BENCH_DIR), str(REPO)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import yaml  # noqa: E402
from clients import establish_truth, export_spec  # noqa: E402
from harness import (  # noqa: E402
    HarnessError,
    SimulatorProcess,
    check_count,
    count_jsonl_lines,
    count_parquet_rows,
)

from exporter.api import get_endpoint  # noqa: E402

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def _function(frame: str) -> str:
    """'write_page (exporter/sinks/parquet.py:88)' -> 'write_page (exporter/sinks/parquet.py)'."""
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    path = path.replace(str(REPO) + "/", "")
    return f"{match.group('func')} ({path})"


def summarise(raw: Path, rate: int, top: int) -> str:
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(f) for f in stack.split(";") if f]
        total += count
        self_counts[frames[-1]] += count
        for func in set(frames):
            inclusive[func] += count
    if total == 0:
        raise HarnessError(f"py-spy recorded no samples in {raw}")

    def table(counter: Counter[str], title: str) -> list[str]:
        lines = [f"{title} (of {total} on-CPU samples = {total / rate:.2f} s)"]
        for func, count in counter.most_common(top):
            lines.append(f"  {100 * count / total:5.1f}%  {count / rate:6.2f} s  {func}")
        return lines

    return "\n".join([*table(self_counts, "self time"), "", *table(inclusive, "inclusive time")])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", choices=("parquet", "jsonl"), default="parquet")
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every non-idle thread (default: only the thread holding the GIL, i.e. "
        "Python CPU time; C work that releases the GIL, such as Parquet encoding, is then "
        "not shown)",
    )
    parser.add_argument("--keep", type=Path, help="copy the raw py-spy stacks here")
    args = parser.parse_args(argv)

    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 1
    endpoint = get_endpoint("flownode-instances")
    (REPO / ".bench").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="profile-", dir=REPO / ".bench"))
    try:
        with SimulatorProcess(
            scale=args.scale, seed=7, latency_ms=0, log_path=work / "simulator.log"
        ) as sim:
            expected = establish_truth(sim, endpoint.path, 1000)
            out_dir = work / "out"
            spec = export_spec(
                sim.base_url,
                [{"endpoint": endpoint.name, "page_size": 1000}],
                fmt=args.format,
                out_dir=out_dir,
            )
            spec_path = work / "spec.yaml"
            spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
            raw = work / "profile.txt"
            command = [
                py_spy, "record", "--rate", str(args.rate), "--format", "raw", "--output",
                str(raw), *([] if args.all_threads else ["--gil"]),
                "--", sys.executable, "-m", "exporter", "run", str(spec_path),
            ]  # fmt: skip
            completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
            if completed.returncode != 0:
                raise HarnessError(f"py-spy run failed:\n{completed.stderr[-3000:]}")
            counter = count_parquet_rows if args.format == "parquet" else count_jsonl_lines
            check_count("operate-export (profiled)", counter(out_dir / endpoint.name), expected)
        print(f"operate-export {args.format}, {expected} flownode-instances records\n")
        print(summarise(raw, args.rate, args.top))
        if args.keep:
            shutil.copy(raw, args.keep)
            print(f"\nraw stacks: {args.keep}", file=sys.stderr)
    except HarnessError as exc:
        print(f"PROFILE ABORTED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
