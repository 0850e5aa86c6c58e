"""Measurement plumbing: the simulator in its own process, measured child processes, row counts.

Every measured client runs as a child process so that its wall time, CPU time (user + sys from
``os.wait4``) and peak RSS (``ru_maxrss`` of that child) belong to it alone; the simulator is a
separate process whose cost is not charged to any client (but shares the machine's cores).
"""

from __future__ import annotations

import gzip
import os
import queue
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow.parquet as pq
import requests

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "bench"
URL_PATTERN = re.compile(r"https?://127\.0\.0\.1:\d+")


def compile_package() -> None:
    """Byte-compile the exporter as pip does when it installs a package.

    The benchmarks measure an installed tool: its modules load from ``.pyc`` files, as the
    limit client's ``requests`` and ``orjson`` do. An editable install used with
    ``PYTHONDONTWRITEBYTECODE=1`` (set on the dev box these figures come from) has none, or
    stale ones after an edit, and then every ``python -m exporter`` compiles ~100 modules from
    source: ~70 ms of a run's start-up on a quiet 2-core box, which no installed copy pays.
    ``compileall`` writes the files whatever that variable says.
    """
    import compileall

    if not compileall.compile_dir(str(REPO / "exporter"), quiet=1):
        raise HarnessError("could not byte-compile exporter/ (see the messages above)")


class HarnessError(RuntimeError):
    """The benchmark itself went wrong (wrong record count, a client failed): abort loudly."""


@dataclass(frozen=True)
class Sample:
    """One measured run of one client."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    records: int
    server_cpu_s: float = 0.0  # the simulator's CPU time during this run


@dataclass(frozen=True)
class Figure:
    """The medians of several samples of one client in one scenario."""

    records: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    runs: int
    walls: tuple[float, ...]
    server_cpu_s: float = 0.0

    @property
    def records_per_s(self) -> float:
        return self.records / self.wall_s if self.wall_s > 0 else float("inf")

    @classmethod
    def of(cls, samples: Sequence[Sample], *, records_vary: bool = False) -> Figure:
        """Medians; ``records_vary``: the data changes between runs (a live simulator), so the
        record count is a median too instead of a count every run must agree on."""
        counts = {s.records for s in samples}
        if len(counts) != 1 and not records_vary:
            raise HarnessError(f"runs disagree on the record count: {sorted(counts)}")
        return cls(
            records=int(statistics.median(s.records for s in samples)),
            wall_s=statistics.median(s.wall_s for s in samples),
            cpu_s=statistics.median(s.cpu_s for s in samples),
            peak_rss_mb=statistics.median(s.peak_rss_mb for s in samples),
            runs=len(samples),
            walls=tuple(round(s.wall_s, 2) for s in samples),
            server_cpu_s=statistics.median(s.server_cpu_s for s in samples),
        )


class SimulatorProcess:
    """``python -m exporter simulate`` in its own process; killed on exit, also on error."""

    def __init__(
        self,
        *,
        scale: int,
        seed: int,
        latency_ms: int,
        log_path: Path,
        api: str = "v1",
        extra: Sequence[str] = (),  # more ``simulate`` options, e.g. ("--live",)
    ) -> None:
        self.command = [
            sys.executable, "-m", "exporter", "simulate", "--port", "0",
            "--scale", str(scale), "--seed", str(seed), "--latency-ms", str(latency_ms),
            "--api", api, *extra,
        ]  # fmt: skip
        self.log_path = log_path
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._drain: threading.Thread | None = None
        self._session = requests.Session()

    def __enter__(self) -> SimulatorProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("w", encoding="utf-8")
        self._proc = subprocess.Popen(
            self.command, cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1
        )
        urls: queue.Queue[str] = queue.Queue()
        stdout = self._proc.stdout
        assert stdout is not None
        # Keep draining stdout for the simulator's whole life so a chatty server never blocks.
        self._drain = threading.Thread(target=_drain, args=(stdout, log, urls), daemon=True)
        self._drain.start()
        try:
            self.base_url = urls.get(timeout=600)
        except queue.Empty:
            self.__exit__(None, None, None)
            raise HarnessError(f"simulator printed no base URL; see {self.log_path}") from None
        if not self.base_url:
            self.__exit__(None, None, None)
            raise HarnessError(f"simulator exited before serving; see {self.log_path}")
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        self._session.close()

    def stats(self) -> dict[str, Any]:
        response = self._session.get(f"{self.base_url}/__sim/stats", timeout=30)
        response.raise_for_status()
        result: dict[str, Any] = orjson.loads(response.content)
        return result

    def cpu_seconds(self) -> float:
        """The simulator's CPU time so far (user + sys from /proc; 0.0 where unavailable)."""
        if self._proc is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        # Fields 14 and 15 of /proc/PID/stat (utime, stime), counted after the ")".
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def items_served(self) -> int:
        return int(self.stats()["items_served"])


def _drain(stdout: IO[str], log: IO[str], urls: queue.Queue[str]) -> None:
    found = False
    for line in stdout:
        log.write(line)
        log.flush()
        if not found and (match := URL_PATTERN.search(line)):
            found = True
            urls.put(match.group(0))
    if not found:
        urls.put("")
    log.close()


def run_measured(
    command: Sequence[str], *, log_path: Path, timeout_s: float, env: dict[str, str] | None = None
) -> tuple[float, float, float, str]:
    """Run one child to completion; return (wall s, CPU s, peak RSS MB, its stdout).

    CPU and peak RSS come from the child's own rusage (``os.wait4``), so they include nothing of
    the harness or the simulator. A non-zero exit or a timeout is a harness error.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out_path = log_path.with_suffix(".stdout")
    with log_path.open("wb") as err, out_path.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(list(command), cwd=REPO, stdout=out, stderr=err, env=env)
        watchdog = threading.Timer(timeout_s, proc.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # we reaped it; tell Popen
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise HarnessError(
            f"{' '.join(command)} exited {proc.returncode} after {wall:.1f}s; stderr tail:\n{tail}"
        )
    cpu = usage.ru_utime + usage.ru_stime
    peak_rss_mb = usage.ru_maxrss / 1024  # Linux reports kilobytes
    return wall, cpu, peak_rss_mb, out_path.read_text(encoding="utf-8")


def count_parquet_rows(root: Path, pattern: str = "*.parquet") -> int:
    files = sorted(root.rglob(pattern))
    if not files:
        raise HarnessError(f"no Parquet files under {root}")
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def count_jsonl_lines(root: Path, pattern: str | None = None) -> int:
    if pattern is not None:
        files = sorted(root.rglob(pattern))
    else:
        files = sorted([*root.rglob("*.jsonl"), *root.rglob("*.jsonl.gz")])
    if not files:
        raise HarnessError(f"no JSONL files under {root}")
    total = 0
    for path in files:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                total += chunk.count(b"\n")
    return total


def check_count(who: str, got: int, expected: int) -> None:
    if got != expected:
        raise HarnessError(f"{who}: wrote {got} records, the simulator holds {expected}")


compile_package()  # every benchmark imports this module before it measures anything
