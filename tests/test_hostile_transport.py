"""Issue 11 points 4 and 5 (transport): bounded time and memory against a hostile server, and a
sane Retry-After.

A hostile loopback server drips a body (and headers) one byte at a time, sends a gzip bomb
(~0.5 MB inflating to 512 MB), declares a Content-Length far over the limit, or streams a chunked
body without end. The real CLI runs as a subprocess whose peak RSS is measured (the child's own
VmHWM, written at exit); every case must end with exit 1, an error naming the limit
and its spec key, in bounded time. Retry-After values (11 days, a far-future HTTP date, negative,
garbage) are checked through the transport's real retry loop with a recording ``sleep``.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exporter.errors import ApiError, RetriesExhausted
from exporter.spec import LimitsSpec, RetrySpec, SourceSpec
from exporter.transport.client import ApiClient
from tests.hostile_server import HostileServer, Request, Wire

REPO = Path(__file__).resolve().parent.parent
MakeServer = Callable[[dict[str, Any]], HostileServer]
SEARCH = "/v1/incidents/search"
MIB = 1024 * 1024
PEAK_RSS_LIMIT = 300 * MIB
EMPTY_PAGE = b'{"items": [], "sortValues": [], "total": 0}'

# Runs the CLI and records the child's own peak RSS (bytes) in $PEAK_RSS_FILE: VmHWM, the high
# water mark of the memory its own program mapped. Not ru_maxrss: Linux carries the peak of the
# process that exec'd it (a vfork of the pytest worker, hundreds of MB late in a run) into it.
RSS_WRAPPER = """
import atexit, os, resource, sys
def _peak():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) * 1024
    except OSError:
        pass
    with open(os.environ["PEAK_RSS_FILE"], "w") as out:
        out.write(str(peak))
atexit.register(_peak)
from exporter.cli.app import main
sys.argv = ["operate-export", *sys.argv[1:]]
main()
"""


def gzip_bomb(inflated: int = 512 * MIB) -> bytes:
    """About 0.5 MB of gzip that inflates to ``inflated`` bytes of zeros."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MIB)
    parts = [packer.compress(block) for _ in range(inflated // MIB)]
    return b"".join([*parts, packer.flush()])


def write_spec(tmp: Path, server: HostileServer, limits: str = "", retry: int = 1) -> Path:
    spec = tmp / "spec.yaml"
    spec.write_text(
        f"""version: 1
source:
  base_url: "{server.base_url}"
  api: v1
  timeout_seconds: 5
  retry: {{max_attempts: {retry}, initial_backoff_seconds: 0.01, max_backoff_seconds: 0.01}}
  limits: {{{limits}}}
exports:
  - {{endpoint: incidents, name: inc}}
output: {{format: jsonl, path: "{tmp / "out"}"}}
"""
    )
    return spec


def run_measured(spec: Path, tmp: Path) -> tuple[int, str, float, int]:
    """(exit code, stdout+stderr, wall seconds, peak RSS bytes) of ``operate-export run``."""
    peak_file = tmp / "peak_rss"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", RSS_WRAPPER, "run", str(spec)],
        cwd=REPO,
        env={**os.environ, "PEAK_RSS_FILE": str(peak_file)},
        capture_output=True,
        timeout=120,
        check=False,
    )
    wall = time.monotonic() - started
    printed = proc.stdout.decode() + proc.stderr.decode()
    return proc.returncode, printed, wall, int(peak_file.read_text())


def incomplete_only(out: Path) -> None:
    """A failed export leaves its marker and no manifest."""
    names = {p.name for p in out.rglob("*")}
    assert "_INCOMPLETE" in names and "_manifest.json" not in names


# --------------------------------------------------------------------------- deadline


def drip_body(request: Request, wire: Wire) -> None:
    wire.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    wire.drip(b'{"items": [' + b" " * 990, 1.0, threading.Event())
    wire.close()


def drip_headers(request: Request, wire: Wire) -> None:
    wire.drip(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 1000, 1.0, threading.Event())
    wire.close()


@pytest.mark.parametrize("behaviour", [drip_body, drip_headers], ids=["body", "headers"])
def test_a_dripping_answer_hits_the_request_deadline(
    hostile_server: MakeServer, tmp_path: Path, behaviour: Callable[[Request, Wire], None]
) -> None:
    """One byte a second never trips timeout_seconds (5 s); the 3 s deadline stops it."""
    server = hostile_server({SEARCH: behaviour})
    spec = write_spec(tmp_path, server, "request_deadline_seconds: 3")
    code, printed, wall, _ = run_measured(spec, tmp_path)
    assert code == 1, printed
    assert "request deadline exceeded (3 s" in printed
    assert "source.limits.request_deadline_seconds" in printed
    assert wall < 3 + 10, f"took {wall:.1f} s"  # deadline + interpreter start-up, generously
    incomplete_only(tmp_path / "out")


def test_the_deadline_is_retried_like_a_timeout(hostile_server: MakeServer) -> None:
    """First attempt drips past the deadline, the second answers: the search succeeds."""

    def slow_then_fast(request: Request, wire: Wire) -> None:
        if len(server.requests) == 1:
            drip_body(request, wire)
        else:
            wire.respond(200, EMPTY_PAGE)

    server = hostile_server({SEARCH: slow_then_fast})
    retry = RetrySpec(max_attempts=2, initial_backoff_seconds=0.0, max_backoff_seconds=0.0)
    limits = LimitsSpec(request_deadline_seconds=1)
    client = ApiClient(SourceSpec(base_url=server.base_url, retry=retry, limits=limits))
    started = time.monotonic()
    assert client.post_json(SEARCH, {"size": 1}) == {"items": [], "sortValues": [], "total": 0}
    assert len(server.requests) == 2
    assert time.monotonic() - started < 1 + 5
    client.close()


# --------------------------------------------------------------------------- size caps


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb()


def test_a_gzip_bomb_stops_at_the_decompressed_limit(
    hostile_server: MakeServer, tmp_path: Path, bomb: bytes
) -> None:
    assert len(bomb) < 1 * MIB  # ~0.5 MB on the wire, 512 MB inflated

    def send_bomb(request: Request, wire: Wire) -> None:
        wire.respond(200, bomb, {"Content-Encoding": "gzip"})

    server = hostile_server({SEARCH: send_bomb})
    spec = write_spec(tmp_path, server, f"max_decompressed_bytes: {32 * MIB}", retry=3)
    code, printed, wall, peak = run_measured(spec, tmp_path)
    assert code == 1, printed
    assert f"over source.limits.max_decompressed_bytes = {32 * MIB} bytes" in printed
    assert peak < PEAK_RSS_LIMIT, f"peak RSS {peak / MIB:.0f} MiB"
    assert len(server.requests) == 1  # deterministic: not retried
    assert wall < 30
    incomplete_only(tmp_path / "out")


def test_a_gzipped_answer_within_the_limits_is_inflated(hostile_server: MakeServer) -> None:
    page = b'{"items": [{"key": 1}], "sortValues": [1], "total": 1}'

    def gzipped(request: Request, wire: Wire) -> None:
        wire.respond(200, gzip.compress(page) + gzip.compress(b""), {"Content-Encoding": "gzip"})

    def deflated(request: Request, wire: Wire) -> None:
        wire.respond(200, zlib.compress(page), {"Content-Encoding": "deflate"})

    server = hostile_server({"/gz": gzipped, "/deflate": deflated})
    client = ApiClient(SourceSpec(base_url=server.base_url))
    for path in ("/gz", "/deflate"):
        assert client.post_json(path, {})["items"] == [{"key": 1}]
    assert server.requests[0].headers["Accept-Encoding"] == "gzip, deflate"
    client.close()


def test_an_oversize_content_length_is_refused_before_reading(
    hostile_server: MakeServer, tmp_path: Path
) -> None:
    """10 GB announced, nothing sent: refused at once (not after timeout_seconds), not retried."""

    def announce(request: Request, wire: Wire) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        wire.send(head + b"Content-Length: 10000000000\r\n\r\n{")
        server.stopping.wait(30)  # would hang the reader

    server = hostile_server({SEARCH: announce})
    spec = write_spec(tmp_path, server, retry=3)
    code, printed, wall, _ = run_measured(spec, tmp_path)
    assert code == 1, printed
    assert "over source.limits.max_response_bytes = 268435456 bytes" in printed
    assert "Content-Length: 10000000000" in printed
    assert len(server.requests) == 1
    assert wall < 5 + 5  # under timeout_seconds (5 s) plus start-up: nothing was awaited


def test_an_endless_chunked_body_is_cut_at_the_wire_limit(
    hostile_server: MakeServer, tmp_path: Path
) -> None:
    """No Content-Length, 1 MiB chunks for up to 1 GiB: refused while reading, memory flat."""

    def endless(request: Request, wire: Wire) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        wire.send(head + b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n" % MIB + b"[" * MIB + b"\r\n"
        for _ in range(1024):
            wire.send(chunk)  # OSError once the client hangs up ends the behaviour
        wire.send(b"0\r\n\r\n")

    server = hostile_server({SEARCH: endless})
    spec = write_spec(tmp_path, server, f"max_response_bytes: {16 * MIB}", retry=3)
    code, printed, wall, peak = run_measured(spec, tmp_path)
    assert code == 1, printed
    assert f"over source.limits.max_response_bytes = {16 * MIB} bytes" in printed
    assert "no Content-Length" in printed
    assert peak < PEAK_RSS_LIMIT, f"peak RSS {peak / MIB:.0f} MiB"
    assert len(server.requests) == 1
    assert wall < 30


def test_an_unrequested_content_encoding_is_refused(hostile_server: MakeServer) -> None:
    def brotli(request: Request, wire: Wire) -> None:
        wire.respond(200, b"\x8b\x02\x80{}\x03", {"Content-Encoding": "br"})

    server = hostile_server({SEARCH: brotli})
    client = ApiClient(SourceSpec(base_url=server.base_url))
    with pytest.raises(ApiError, match="Content-Encoding 'br', which was not asked for"):
        client.post_json(SEARCH, {})
    assert len(server.requests) == 1
    client.close()


# --------------------------------------------------------------------------- Retry-After


def retry_after_source(server: HostileServer, max_backoff: float) -> SourceSpec:
    retry = RetrySpec(max_attempts=2, initial_backoff_seconds=0.5, max_backoff_seconds=max_backoff)
    return SourceSpec(base_url=server.base_url, retry=retry)


@pytest.mark.parametrize(
    ("header", "low", "high"),
    [
        ("950400", 7.0, 7.0),  # 11 days: capped at max_backoff_seconds
        ("Fri, 31 Dec 9999 23:59:59 GMT", 7.0, 7.0),  # far-future date: capped too
        ("2", 2.0, 2.0),  # a sane hint is used as it is
        ("-5", 0.0, 0.5),  # negative: no hint, jittered backoff (initial 0.5 s)
        ("1e999", 0.0, 0.5),  # not delta-seconds: no hint
        ("soon, maybe", 0.0, 0.5),  # garbage
        ("Mon, 99 Foo 2026 00:00:00 GMT", 0.0, 0.5),  # a broken date
    ],
)
def test_retry_after_is_bounded_and_junk_is_ignored(
    hostile_server: MakeServer, header: str, low: float, high: float
) -> None:
    def busy(request: Request, wire: Wire) -> None:
        wire.respond_json(503, {"message": "busy"}, {"Retry-After": header})

    server = hostile_server({SEARCH: busy})
    waits: list[float] = []
    client = ApiClient(retry_after_source(server, 7.0), sleep=waits.append)
    with pytest.raises(RetriesExhausted):
        client.post_json(SEARCH, {})
    assert len(waits) == 1 and low <= waits[0] <= high, waits
    client.close()


def test_unbounded_backoff_settings_are_refused(tmp_path: Path) -> None:
    """max_backoff_seconds 1e9 (the 11-day wait) and non-finite timeouts never reach a run."""
    for bad in (
        "retry: {max_backoff_seconds: 1e9}",
        "retry: {initial_backoff_seconds: .inf}",
        "timeout_seconds: .nan",
        "limits: {request_deadline_seconds: .inf}",
        "limits: {max_response_bytes: 0}",
    ):
        spec = tmp_path / "bad.yaml"
        spec.write_text(
            f"version: 1\nsource: {{base_url: 'http://127.0.0.1:9', {bad}}}\n"
            "exports: [{endpoint: incidents}]\n"
        )
        proc = subprocess.run(
            [sys.executable, "-m", "exporter", "validate", str(spec)],
            cwd=REPO,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 2, (bad, proc.stdout, proc.stderr)
        assert b"source." in proc.stdout + proc.stderr
