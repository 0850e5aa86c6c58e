"""Issue 11 leftover: the per-request deadline also bounds a TLS handshake.

A hostile loopback server accepts TCP connections to an ``https://`` base URL and then never
completes the handshake: it reads the ClientHello and either stays silent or drips the start of
a ServerHello record one byte a second. The real CLI runs as a subprocess and must fail with the
deadline's error in about the deadline.

Direct connections were already bounded (the handshake gets the connect timeout, which is
``min(timeout_seconds, what remains of the deadline)``, and CPython applies it to the whole
handshake); they are pinned here. The case that needed the fix goes through an HTTP proxy
(``HTTPS_PROXY``) that answers the CONNECT late: the handshake then starts with most of the
deadline spent but still gets the full connect timeout, and the watchdog could not shut the
socket down because TLS had taken over its descriptor. It ended at about twice the deadline.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from exporter.transport.limits import WATCHDOG

REPO = Path(__file__).resolve().parent.parent
DEADLINE = 6
PROXY_VARIABLES = {"https_proxy", "http_proxy", "all_proxy", "no_proxy"}
# A TLS handshake record header announcing a 16 KB ServerHello: the client waits for all of it.
RECORD_HEADER = b"\x16\x03\x03\x40\x00"

Handshake = Callable[[socket.socket, threading.Event], None]


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Reads the ClientHello and never answers it."""
    conn.recv(65536)
    stop.wait(120)


def dripping(conn: socket.socket, stop: threading.Event) -> None:
    """Reads the ClientHello, then sends a ServerHello record one byte a second."""
    conn.recv(65536)
    for byte in RECORD_HEADER + bytes(16384):
        if stop.wait(1.0):
            return
        try:
            conn.sendall(bytes([byte]))
        except OSError:  # the client gave up
            return


class StalledTlsServer:
    """A plain TCP server on loopback whose every connection runs ``handshake``; as a proxy, it
    first answers the CONNECT request ``tunnel_delay`` seconds late (and is its own target)."""

    def __init__(self, handshake: Handshake, tunnel_delay: float | None = None) -> None:
        self.handshake = handshake
        self.tunnel_delay = tunnel_delay
        self.accepted = 0
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            worker = threading.Thread(target=self._hold, args=(conn,), daemon=True)
            worker.start()
            self.threads.append(worker)

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            if self.tunnel_delay is not None:
                self._tunnel(conn)
            self.handshake(conn, self.stop)

    def _tunnel(self, conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        assert request.startswith(b"CONNECT "), request[:80]
        if not self.stop.wait(self.tunnel_delay):
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")


@pytest.fixture
def stalled_tls_server(request: pytest.FixtureRequest) -> Iterator[StalledTlsServer]:
    server = StalledTlsServer(*request.param)
    acceptor = threading.Thread(target=server.serve, daemon=True)
    acceptor.start()
    yield server
    server.stop.set()
    acceptor.join(5)
    for worker in server.threads:
        worker.join(5)
    server.listener.close()


def write_spec(tmp: Path, port: int) -> Path:
    spec = tmp / "spec.yaml"
    spec.write_text(
        f"""version: 1
source:
  base_url: "https://127.0.0.1:{port}"
  api: v1
  timeout_seconds: 60
  tls: {{verify: false}}
  retry: {{max_attempts: 1}}
  limits: {{request_deadline_seconds: {DEADLINE}}}
exports:
  - {{endpoint: incidents, name: inc}}
output: {{format: jsonl, path: "{tmp / "out"}"}}
"""
    )
    return spec


def cli_environment(server: StalledTlsServer) -> dict[str, str]:
    """No proxy of the machine's; the server as the HTTPS proxy when it plays one."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}
    if server.tunnel_delay is not None:
        env["HTTPS_PROXY"] = f"http://127.0.0.1:{server.port}"
    return env


@pytest.mark.parametrize(
    "stalled_tls_server",
    [
        # Silent: the handshake must not wait the whole 60 s timeout_seconds.
        pytest.param((silent,), id="silent"),
        # Dripping: a byte a second; the record would take 4.5 hours.
        pytest.param((dripping,), id="dripping"),
        # The proxy spends most of the deadline; the handshake must stop at the deadline, not
        # one more deadline later (~2 x DEADLINE s before the fix).
        pytest.param((silent, DEADLINE - 0.5), id="silent-after-slow-proxy"),
        pytest.param((dripping, DEADLINE - 0.5), id="dripping-after-slow-proxy"),
    ],
    indirect=True,
)
def test_a_stalled_tls_handshake_hits_the_request_deadline(
    stalled_tls_server: StalledTlsServer, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, stalled_tls_server.port)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "run", str(spec)],
        cwd=REPO,
        env=cli_environment(stalled_tls_server),
        capture_output=True,
        timeout=120,
        check=False,
    )
    wall = time.monotonic() - started
    printed = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 1, printed
    assert f"request deadline exceeded ({DEADLINE} s" in printed, printed
    assert "source.limits.request_deadline_seconds" in printed
    assert stalled_tls_server.accepted >= 1  # the client did reach the handshake
    # The export's own seconds (no interpreter start-up): the deadline and a little, well below
    # the 2 x DEADLINE of a handshake that outlives it; the wall clock, generously.
    export_seconds = float(re.findall(r"export=inc FAILED .*seconds=([0-9.]+)", printed)[0])
    assert export_seconds < DEADLINE + 2, printed
    assert wall < DEADLINE + 10, f"took {wall:.1f} s"
    names = {p.name for p in (tmp_path / "out").rglob("*")}
    assert "_manifest.json" not in names


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_the_deadline_reaches_a_socket_whose_descriptor_was_taken_over() -> None:
    """What TLS wrapping does (the new socket object takes the descriptor, the old one is left
    detached): the watchdog still unblocks the read, and ending the request closes the
    deadline's duplicate descriptor."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        peer, _ = listener.accept()
        before = _open_descriptors()
        deadline = WATCHDOG.begin(0.5)
        deadline.attach(client)  # what _new_conn hands over first
        deadline.attach_duplicate(client)
        taken_over = socket.socket(fileno=client.detach())  # as SSLContext.wrap_socket does
        taken_over.settimeout(30)
        started = time.monotonic()
        try:
            assert taken_over.recv(1) == b""  # the peer is silent: only the shutdown ends this
        finally:
            expired = WATCHDOG.end(deadline)
            taken_over.close()
            peer.close()
        assert expired
        assert time.monotonic() - started < 10  # not the 30 s socket timeout
        assert _open_descriptors() == before - 2  # both ends closed, and no duplicate left


def test_a_request_that_ends_in_time_closes_its_duplicate_descriptor() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        peer, _ = listener.accept()
        with client, peer:
            before = _open_descriptors()
            deadline = WATCHDOG.begin(60)
            deadline.attach_duplicate(client)
            assert _open_descriptors() == before + 1
            assert not WATCHDOG.end(deadline)
            assert _open_descriptors() == before
            client.sendall(b"x")  # the connection itself stays open (keep-alive)
            assert peer.recv(1) == b"x"
