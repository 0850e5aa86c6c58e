"""Search pages as the real APIs serve them, with a twist, for the hostile-server tests.

``scripted(pages)`` is a ``hostile_server`` behaviour answering the n-th search on its path
with ``pages[n]`` (bytes or a callable of the request), then empty pages. ``v1_page`` /
``v2_page`` build the JSON as Operate v1 (``items``, ``sortValues``, ``total``) and the v2
Orchestration Cluster API (``items``, ``page: {totalItems, endCursor}``) do; ``run_cli`` runs
``operate-export run`` in a subprocess (a segfault then fails the test instead of killing
pytest) and reports its exit status, output, wall time and peak RSS.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil

from tests.hostile_server import Request, Wire

Page = bytes | Callable[[Request], bytes]
SEARCH = {"v1": "/v1/incidents/search", "v2": "/v2/incidents/search"}
KEY = {"v1": "key", "v2": "incidentKey"}
BIG = 2**62 + 7


def item(api: str, key: int, **extra: Any) -> dict[str, Any]:
    """An incident as each API sends it (v2 keys are strings of digits)."""
    if api == "v1":
        return {"key": key, "state": "ACTIVE", "message": f"m{key}", **extra}
    return {"incidentKey": str(key), "state": "ACTIVE", "errorMessage": f"m{key}", **extra}


def v1_page(items: Sequence[Any], *, total: Any = 1000, sort_values: Any = "last") -> bytes:
    body: dict[str, Any] = {"items": list(items), "total": total}
    if sort_values == "last":
        sort_values = [items[-1]["key"]] if items else []
    body["sortValues"] = sort_values
    return orjson.dumps(body)


def v2_page(items: Sequence[Any], *, total: Any = 1000, end_cursor: Any = "last") -> bytes:
    if end_cursor == "last":
        end_cursor = f"c{items[-1]['incidentKey']}" if items else None
    page = {"totalItems": total, "hasMoreTotalItems": False, "endCursor": end_cursor}
    return orjson.dumps({"items": list(items), "page": page})


def page(api: str, keys: Sequence[int], **kw: Any) -> bytes:
    items = [item(api, k) for k in keys]
    return v1_page(items, **kw) if api == "v1" else v2_page(items, **kw)


def empty(api: str) -> bytes:
    return v1_page([], total=0) if api == "v1" else v2_page([], total=0, end_cursor=None)


def scripted(pages: Sequence[Page], api: str) -> Callable[[Request, Wire], None]:
    """Answer the n-th request with ``pages[n]`` (then empty pages); 200, application/json."""
    served = {"n": 0}

    def behaviour(request: Request, wire: Wire) -> None:
        n = served["n"]
        served["n"] += 1
        chosen = pages[n] if n < len(pages) else empty(api)
        wire.respond(200, chosen(request) if callable(chosen) else chosen)

    return behaviour


def searches(server: Any, api: str) -> list[Any]:
    """Bodies of the searches the client sent (in order)."""
    return [r.json() for r in server.requests if r.path == SEARCH[api]]


def spec_yaml(
    base_url: str,
    out: Path,
    api: str,
    fmt: str,
    *,
    page_size: int = 3,
    extra_exports: str = "",
    sort: str = "",
    rows_per_file: int = 1_000_000,
) -> str:
    return f"""version: 1
source:
  base_url: {base_url}
  api: {api}
  timeout_seconds: 10
  retry: {{max_attempts: 2, initial_backoff_seconds: 0.01, max_backoff_seconds: 0.02}}
concurrency: 2
exports:
  - endpoint: incidents
    name: hostile
    page_size: {page_size}
{sort}{extra_exports}output:
  format: {fmt}
  schema: native
  path: '{out}'
  rows_per_file: {rows_per_file}
"""


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(spec: str, tmp_path: Path, timeout: float = 60.0) -> CliRun:
    """``operate-export run`` on ``spec`` in a child process, with its exit status (a signal
    is negative), output, wall time and peak RSS (sampled every 20 ms with psutil: the rusage
    of a forked child can carry the parent's size from before ``exec``)."""
    path = tmp_path / "job.yaml"
    path.write_text(spec)
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    started = time.monotonic()
    peak = 0
    with out.open("wb") as stdout, err.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "exporter", "run", str(path)], stdout=stdout, stderr=stderr
        )
        watched = psutil.Process(child.pid)
        while child.poll() is None:
            if time.monotonic() - started > timeout:
                child.kill()
                child.wait()
                raise AssertionError(f"still running after {timeout} s")
            with contextlib.suppress(psutil.Error):
                peak = max(peak, watched.memory_info().rss)
            time.sleep(0.02)
    seconds = time.monotonic() - started
    return CliRun(child.returncode, out.read_text(), err.read_text(), seconds, peak / 2**20)


def snapshot_dirs(out: Path, name: str = "hostile") -> list[Path]:
    return sorted((out / name).glob("snapshot=*"))
