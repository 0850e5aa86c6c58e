"""A hostile loopback HTTP server for attack tests: one behaviour per path.

Each behaviour is a function ``(request, wire) -> None`` that gets the parsed request and a
``Wire`` that writes raw bytes to the client socket, so a behaviour can answer well, echo the
request, drip one byte at a time, send a gzip bomb, lie about lengths or hang. Test modules
register their own behaviours:

    server = HostileServer({"/v1/incidents/search": echo_500, ...}).start()
    base_url = server.base_url
    ...
    server.stop()

or with the ``hostile_server`` fixture of ``tests/conftest.py``. A path that no behaviour
claims answers 404. Requests are recorded in ``server.requests`` (method, path, headers, body)
so a test can see what the client sent (for example the ``searchAfter`` of every page).
Behaviours are matched on the exact path first, then on the longest registered prefix that
ends with ``*``.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import orjson


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


@dataclass
class Wire:
    """Raw access to the connection. ``send`` writes bytes as they are; ``respond`` writes a
    complete HTTP/1.1 answer with a correct Content-Length unless ``headers`` gives one."""

    sock: socket.socket
    closed: bool = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def respond(
        self,
        status: int,
        body: bytes | str = b"",
        headers: Mapping[str, str] | None = None,
        reason: str = "X",
    ) -> None:
        raw = body.encode() if isinstance(body, str) else body
        head = {"Content-Type": "application/json", "Content-Length": str(len(raw))}
        head.update(headers or {})
        lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in head.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + raw)

    def respond_json(
        self, status: int, value: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        self.respond(status, orjson.dumps(value), headers)

    def drip(self, data: bytes, every_seconds: float, stop: threading.Event) -> None:
        """Send ``data`` one byte at a time, ``every_seconds`` apart, until done or stopped."""
        for i in range(len(data)):
            if stop.is_set():
                return
            try:
                self.sock.sendall(data[i : i + 1])
            except OSError:
                return
            stop.wait(every_seconds)

    def close(self) -> None:
        self.closed = True


Behaviour = Callable[[Request, Wire], None]


@dataclass
class HostileServer:
    routes: dict[str, Behaviour]
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    state: dict[str, Any] = field(default_factory=dict)  # free for behaviours to keep counters

    def start(self) -> HostileServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    self.command, self.path.split("?")[0], dict(self.headers.items()), body
                )
                server.requests.append(request)
                wire = Wire(self.connection)
                behaviour = server._route(request.path)
                if behaviour is None:
                    wire.respond_json(404, {"status": 404, "message": "no such behaviour"})
                else:
                    try:
                        behaviour(request, wire)
                    except OSError:
                        wire.closed = True
                if wire.closed:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128

        self._server = Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def _route(self, path: str) -> Behaviour | None:
        if path in self.routes:
            return self.routes[path]
        best: tuple[int, Behaviour] | None = None
        for pattern, behaviour in self.routes.items():
            matches = pattern.endswith("*") and path.startswith(pattern[:-1])
            if matches and (best is None or len(pattern) > best[0]):
                best = (len(pattern), behaviour)
        return best[1] if best else None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
