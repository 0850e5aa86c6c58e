"""A real S3-compatible server for the tests: moto's server mode on a free loopback port.

``tests/conftest.py`` exposes it as the session-scoped ``s3_server`` fixture (one server per
xdist worker). The fixture puts fake credentials into the environment (the standard AWS
variables that pyarrow, boto3 and subprocesses of the CLI read), never into a spec, and each
test asks for a fresh bucket so tests never see each other's objects::

    def test_x(s3_server):
        bucket = s3_server.new_bucket()
        options = s3_server.storage_options
        spec["output"] = {"path": f"s3://{bucket}/out", "storage_options": options}
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

# Fake credentials the server accepts; the fixture sets them in os.environ for the session.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing-access-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-access-key-0123456789",
    "AWS_SESSION_TOKEN": "testing-session-token",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # No instance-metadata probing (seconds of timeouts off a cloud VM).
    "AWS_EC2_METADATA_DISABLED": "true",
}
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class S3Server:
    """moto's S3 in a thread of this process (``ThreadedMotoServer``), on 127.0.0.1."""

    port: int = 0
    _server: Any = field(default=None, repr=False)
    _counter: Any = field(default_factory=itertools.count, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def start(self) -> S3Server:
        from moto.server import ThreadedMotoServer

        # werkzeug logs one line per request to stderr; the tests do not need them.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.port = self.port or free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage_options(self) -> dict[str, str]:
        """``output.storage_options`` for a spec writing to this server (no secrets)."""
        return {"endpoint_override": f"127.0.0.1:{self.port}", "scheme": "http", "region": REGION}

    def client(self) -> Any:
        """A boto3 S3 client on this server (for assertions and setup)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=REGION)

    def new_bucket(self, prefix: str = "test") -> str:
        """Create a bucket with a name no other test of this session uses; return the name."""
        with self._lock:
            number = next(self._counter)
        name = f"{prefix}-{os.getpid()}-{number}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key of ``bucket`` under ``prefix``, sorted."""
        paginator = self.client().get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(found)


class FaultyS3Proxy:
    """A loopback proxy in front of an ``S3Server`` that answers some requests with an S3 error
    instead of forwarding them: ``fail_every`` (every Nth request gets ``503 SlowDown``, which
    S3 clients retry) or ``deny`` (every request gets ``403 AccessDenied``). Requests are
    forwarded byte for byte, one upstream connection each."""

    def __init__(self, upstream_port: int, *, fail_every: int = 0, deny: bool = False) -> None:
        self.upstream_port = upstream_port
        self.fail_every = fail_every
        self.deny = deny
        self.requests = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._server: Any = None
        self.port = 0

    @property
    def storage_options(self) -> dict[str, str]:
        return {"endpoint_override": f"127.0.0.1:{self.port}", "scheme": "http", "region": REGION}

    def _verdict(self) -> tuple[int, str] | None:
        with self._lock:
            self.requests += 1
            if self.deny:
                return 403, "AccessDenied"
            if self.fail_every and self.requests % self.fail_every == 0:
                self.failed += 1
                return 503, "SlowDown"
        return None

    def start(self) -> FaultyS3Proxy:
        import socketserver

        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while proxy._one(self.rfile, self.wfile):
                    pass

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _one(self, rfile: Any, wfile: Any) -> bool:
        """Relay one request; False when the client closed the connection."""
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = rfile.readline()
            if not line:
                return False
            head += line
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)
        }
        body = b""
        if "content-length" in headers:
            body = rfile.read(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = rfile.readline()
                body += size_line
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, then the empty line
                        trailer = rfile.readline()
                        body += trailer
                        if trailer in (b"\r\n", b""):
                            break
                    break
                body += rfile.read(size + 2)
        verdict = self._verdict()
        if verdict is not None:
            status, code = verdict
            reason = "Forbidden" if status == 403 else "Slow Down"
            payload = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>{code} (injected)</Message></Error>"
            ).encode()
            wfile.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n".encode()
                + (b"" if lines[0].startswith("HEAD ") else payload)
            )
            wfile.flush()
            return True
        kept = [h for h in lines[1:] if h and not h.lower().startswith("connection:")]
        request = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        with socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
            upstream.sendall(request + body)
            while chunk := upstream.recv(65536):
                wfile.write(chunk)
        wfile.flush()
        return False  # the answer was framed by the upstream closing: close ours too
