"""The HTTP layer: a stdlib ThreadingHTTPServer speaking HTTP/1.1 keep-alive, and ``Simulator``.

Order of processing for every request: read the body, classify the path (control, auth, API),
inject a fault (API, and auth when ``apply_to_auth``), add latency, authenticate, route.
Every response carries Content-Length, so connections stay reusable.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import orjson

from exporter.simulator.api import V1Api
from exporter.simulator.api_v2 import V2Api
from exporter.simulator.auth import IDENTITY_TOKEN_PATH, SAAS_TOKEN_PATH, Authenticator
from exporter.simulator.clock import DEFAULT_START, Clock, ClockError, format_iso, parse_instant
from exporter.simulator.data import Dataset, Row
from exporter.simulator.faults import FaultConfig, FaultInjector
from exporter.simulator.live import Change, LiveConfig, LiveWorld
from exporter.simulator.responses import (
    LOGIN_PAGE,
    Response,
    json_response,
    problem,
    v2_problem,
)
from exporter.simulator.stats import Stats
from exporter.simulator.v1 import V1View
from exporter.simulator.v2 import SERVER_VERSIONS, V2View

APIS = ("v1", "v2", "both")


@dataclass(frozen=True)
class SimulatorConfig:
    scale: int = 200  # number of process instances; other resources scale from it
    seed: int = 7
    auth: str = "none"  # none | saas | identity | cookie | basic
    client_id: str = "operate-export"
    client_secret: str = "sim-client-secret"
    username: str = "demo"
    password: str = "demo"
    token_ttl: int = 300
    csrf_header: str = "X-CSRF-TOKEN"
    session_max_age: float | None = None
    session_max_requests: int | None = None
    variable_threshold: int = 128
    faults: FaultConfig = field(default_factory=FaultConfig)
    host: str = "127.0.0.1"
    port: int = 0
    api: str = "v1"  # v1 | v2 | both: which API paths the server answers (others: 404)
    # v2 only: the Camunda version whose response shapes, filters and sorts are served (8.9:
    # explicit nulls for required-nullable fields; 8.8: nulls left out, 8.8's fields only).
    server_version: str = "8.9"
    # The clock every Date header reports (ISO 8601; None: 2026-11-27T00:00:00Z, just after the
    # generated history). It stands still unless moved, or flows clock_rate simulated seconds
    # per real second.
    clock_start: str | None = None
    clock_rate: float = 0.0
    # Live mode: instances start, run and finish as the clock advances (see live.py).
    live: bool = False
    live_instances_per_minute: float = 10.0
    visibility_lag: float = 5.0  # seconds from a change to search showing it (importer lag)
    late_fraction: float = 0.0  # share of changes shown late_seconds after them instead
    late_seconds: float = 90.0
    late_resources: tuple[str, ...] = ()  # resources late_fraction applies to; empty: all
    # v2 variable search honours ?truncateValues=false (8.9, late 8.8 builds); False: ignore
    # it, as 8.8 builds from before the parameter do (orchestration-v2.md, version table).
    truncate_values_param: bool = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The stdlib default backlog of 5 makes concurrent clients (8 export/hydration threads)
    # wait for a SYN retransmit (1 s) when they connect at once.
    request_queue_size = 128
    sim: Simulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: with Nagle on, a small answer waits for the client's delayed ACK (~40 ms on
    # loopback), which made every request cost 40 ms regardless of the work done.
    disable_nagle_algorithm = True
    server: _Server
    # BaseHTTPRequestHandler's header lines (created by send_header, undeclared in its stubs):
    # _send appends the body to them so headers and body leave in one write.
    _headers_buffer: list[bytes]
    _counted = False  # an API request counted in flight and not answered yet

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the command reports its own summary

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        # In-flight accounting lets tests assert how many requests a client really overlaps:
        # from the request's arrival until its answer starts to leave (``_send``), so a client
        # that reads an answer and sends its next request at once is never counted twice.
        self._counted = self.path.startswith(("/v1/", "/v2/"))
        if self._counted:
            self.server.sim.stats_.enter()
        try:
            self._dispatch(method)
        finally:
            self._answered()

    def _answered(self) -> None:
        if self._counted:
            self._counted = False
            self.server.sim.stats_.leave()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self, method: str) -> None:
        sim = self.server.sim
        body = self._read_body()
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        headers = {k.lower(): v for k, v in self.headers.items()}
        if path.startswith("/__sim/"):
            self._send(sim.control(method, path, body))
            return
        is_auth = path in sim.auth.auth_paths()
        is_v2 = path.startswith("/v2/")
        is_api = path.startswith("/v1/") or is_v2
        truncate = False
        if is_auth or is_api:
            kind = sim.faults.draw(is_auth)
            if is_api:
                sim.stats_.count("requests")
            if sim.faults.config.latency_ms:
                time.sleep(sim.faults.config.latency_ms / 1000)
            if kind is not None:
                sim.stats_.fault(kind)
                if self._inject(kind, sim.faults.config, path if is_v2 else None):
                    return
                truncate = kind == "truncated"
        if is_auth:
            self._send(sim.auth.handle(path, method, parts.query, headers, body), truncate=truncate)
            return
        if not is_api:
            self._send(problem(404, f"No endpoint {method} {path}", "Requested resource not found"))
            return
        denied, extra = sim.auth.check_api(method, headers, "v2" if is_v2 else "v1", path)
        if denied is not None:
            if denied.status == 401:
                sim.stats_.count("unauthorized")
            self._send(denied)
            return
        api = sim.api_v2 if is_v2 else sim.api
        if api is None:  # the other API is not served: what an older/newer cluster answers
            response = (
                v2_problem(404, "NOT_FOUND", f"No endpoint {method} {path}", path)
                if is_v2
                else problem(404, f"No endpoint {method} {path}", "Requested resource not found")
            )
        else:
            query = parts.query if sim.config.truncate_values_param else ""
            response = sim.answer(api, method, path, body, query)
        response.headers.extend(extra)
        self._send(response, truncate=truncate)

    def _inject(self, kind: str, config: FaultConfig, v2_path: str | None = None) -> bool:
        """Apply a fault; True when the request is fully answered (or dropped)."""
        if v2_path is not None and kind in ("429", "500", "503"):
            # v2 backpressure: problem details naming RESOURCE_EXHAUSTED (orchestration-v2.md 7).
            status = int(kind)
            if status == 500:
                detail = "Expected to handle request: RESOURCE_EXHAUSTED"
                answer = v2_problem(500, "INTERNAL", detail, v2_path)
            else:
                detail = "The broker is overloaded"
                answer = v2_problem(status, "RESOURCE_EXHAUSTED", detail, v2_path)
            headers = [("Retry-After", str(config.retry_after))] if status == 429 else []
            self._send(answer, headers)
            return True
        if kind == "429":
            self._send(
                problem(429, "Too many requests", "Too Many Requests"),
                [("Retry-After", str(config.retry_after))],
            )
            return True
        if kind in ("500", "502", "503", "504"):
            status = int(kind)
            if status == 500:
                self._send(problem(500, "Error in reading data", "API application error"))
            else:
                page = f"<html><body><h1>{status} gateway error</h1></body></html>".encode()
                self._send(Response(status, page, "text/html"))
            return True
        if kind == "reset":
            # RST instead of FIN: the client sees a connection reset, never a response.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return True
        if kind == "slow":
            time.sleep(config.slow_seconds)
            return False
        if kind == "html":
            self._send(Response(200, LOGIN_PAGE, "text/html;charset=UTF-8"))
            return True
        return False  # "truncated" is applied to the real response in _send

    def _send(
        self,
        response: Response,
        extra: list[tuple[str, str]] | None = None,
        truncate: bool = False,
    ) -> None:
        body = response.body
        if truncate:
            body = body[: len(body) // 2]  # a complete HTTP answer whose JSON is cut short
        self.send_response(response.status)
        self.send_header("Date", self.server.sim.clock.http_date())
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in [*response.headers, *(extra or [])]:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        # Headers and body leave in one write: one syscall, one TCP segment train, no stall.
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(body)
        self._answered()
        self.flush_headers()

    def send_response(self, code: int, message: str | None = None) -> None:
        # No Server/Date noise beyond what HTTP needs; keep the stdlib behaviour otherwise.
        self.log_request(code)
        self.send_response_only(code, message)


class Simulator:
    """A running (or startable) Operate simulator. Also a context manager."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        if self.config.api not in APIS:
            raise ValueError(f"unsupported api {self.config.api!r}; choose one of {APIS}")
        if self.config.server_version not in SERVER_VERSIONS:
            raise ValueError(
                f"unsupported server_version {self.config.server_version!r}; "
                f"choose one of {SERVER_VERSIONS}"
            )
        self.dataset = Dataset(self.config.scale, self.config.seed)
        self.view = V1View(self.dataset, self.config.variable_threshold)
        self.dataset.attach_view("v1", self.view)
        # Both views always exist (the truth of either API); the routes follow ``api``.
        self.view_v2 = V2View(
            self.dataset, self.config.variable_threshold, self.config.server_version
        )
        self.dataset.attach_view("v2", self.view_v2)
        self.stats_ = Stats()
        self.faults = FaultInjector(self.config.faults, self.config.seed)
        self.auth = Authenticator(
            self.config.auth,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            username=self.config.username,
            password=self.config.password,
            token_ttl=self.config.token_ttl,
            csrf_header=self.config.csrf_header,
            session_max_age=self.config.session_max_age,
            session_max_requests=self.config.session_max_requests,
            count=self.stats_.count,
        )
        serves = self.config.api
        self.api: V1Api | None = (
            V1Api(self.dataset, self.view, self.stats_) if serves in ("v1", "both") else None
        )
        self.api_v2: V2Api | None = (
            V2Api(self.dataset, self.view_v2, self.stats_) if serves in ("v2", "both") else None
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        start = config_start(self.config)
        self.clock = Clock(start, self.config.clock_rate)
        # Live mode serialises API requests with clock moves: one consistent state per answer.
        self._live_lock = threading.RLock()
        self._shown: dict[tuple[str, Any], tuple[int, int]] = {}
        self.live: LiveWorld | None = None
        if self.config.live:
            self.live = LiveWorld(self.dataset, _live_config(self.config), self.config.seed, start)
            self.clock.on_move = self._refuse_going_back

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        server = _Server((self.config.host, self.config.port), _Handler)
        server.sim = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def token_url(self) -> str | None:
        if self.config.auth == "saas":
            return self.base_url + SAAS_TOKEN_PATH
        if self.config.auth == "identity":
            return self.base_url + IDENTITY_TOKEN_PATH
        return None

    # ------------------------------------------------------------ control

    def stats(self) -> dict[str, Any]:
        return self.stats_.snapshot()

    def reset_stats(self) -> None:
        self.stats_.reset()

    def set_faults(self, faults: FaultConfig) -> None:
        self.faults.set(faults)

    def control(self, method: str, path: str, body: bytes) -> Response:
        if path == "/__sim/stats" and method == "GET":
            return json_response(200, self.stats())
        if path == "/__sim/stats/reset" and method == "POST":
            self.reset_stats()
            return json_response(200, self.stats())
        if path == "/__sim/faults" and method == "POST":
            try:
                data = orjson.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object of FaultConfig fields")
                faults = FaultConfig.from_dict(data)
            except (ValueError, TypeError) as exc:
                return json_response(400, {"message": str(exc)})
            self.set_faults(faults)
            return json_response(200, faults.to_dict())
        if path == "/__sim/faults" and method == "GET":
            return json_response(200, self.faults.config.to_dict())
        if path == "/__sim/clock" and method in ("GET", "POST"):
            return self._clock_control(method, body)
        return json_response(404, {"message": f"No control endpoint {method} {path}"})

    # ------------------------------------------------------------ clock and live mode

    def now(self) -> int:
        """The simulator's current time in epoch milliseconds (what the Date header reports)."""
        return self.clock.now()

    def _refuse_going_back(self, current: int, target: int) -> None:
        if self.live is not None and target < max(current, self.live.engine_ms):
            raise ClockError(
                f"live mode cannot go back in time (now {format_iso(current)}, "
                f"asked for {format_iso(target)})"
            )

    def _clock_control(self, method: str, body: bytes) -> Response:
        if method == "POST":
            try:
                data = orjson.loads(body or b"{}")
                if not isinstance(data, dict) or len(set(data) & {"set", "advance"}) != 1:
                    raise ClockError('expected {"set": "<ISO date-time>"} or {"advance": "PT1H"}')
                if "set" in data:
                    if not isinstance(data["set"], str):
                        raise ClockError("set takes an ISO 8601 date-time string")
                    self.clock.set(data["set"])
                else:
                    self.clock.advance(data["advance"])
            except (ClockError, orjson.JSONDecodeError) as exc:
                return json_response(400, {"message": str(exc)})
        self.sync()
        now = self.now()
        return json_response(
            200,
            {
                "now": format_iso(now),
                "epochMillis": now,
                "rate": self.clock.rate,
                "live": bool(self.live),
            },
        )

    def answer(self, api: Any, method: str, path: str, body: bytes, query: str = "") -> Response:
        """An API answer over the state visible now (live mode: under the live lock)."""
        if self.live is None:
            return api.handle(method, path, body, query)
        with self._live_lock:
            self.sync()
            return api.handle(method, path, body, query)

    def sync(self) -> None:
        """Live mode: run the engine up to now and show every change whose lag has passed."""
        live = self.live
        if live is None:
            return
        with self._live_lock:
            now = self.clock.now()
            if now > live.engine_ms:
                live.advance(now)
            touched = {self._show(change) for change in live.newly_visible(now)}
            touched.discard(None)
            for name in touched:
                if self.api is not None and name in self.api.engines:
                    self.api.engines[name].invalidate()
            if touched and self.api_v2 is not None:
                self.api_v2.invalidate()

    def _show(self, change: Change) -> str | None:
        """Put one newly visible change into the searchable table, unless a newer change of
        the same record is already shown (a late change does not undo a later one)."""
        rank = (change.time, change.seq)
        ident = (change.resource, change.key)
        if rank < self._shown.get(ident, (-1, -1)):
            return None
        self._shown[ident] = rank
        position, appended = self.dataset.table(change.resource).put(change.row)
        self.view.row_changed(change.resource, position)
        self.view_v2.row_changed(change.resource, position, appended)
        return change.resource

    def truth(
        self, resource: str, as_of: int | str | datetime | None = None, api: str | None = None
    ) -> list[dict[str, Any]]:
        """Records of ``resource`` as search shows them at ``as_of`` (default: now), complete
        (hydrated), in unique-key order: API-neutral rows (dates in epoch ms, int keys), or
        rendered as ``api`` "v1"/"v2" GET-by-key records. Without live mode: the dataset."""
        when = self.now() if as_of is None else to_epoch_ms(as_of)
        if self.live is None:
            rows: list[Row] = list(self.dataset.raw_rows(resource))
        else:
            with self._live_lock:
                self.sync()
                if when > self.now():
                    raise ValueError("truth as_of lies in the future: advance the clock first")
                rows = self.live.visible_rows(resource, when)
        if api is None:
            return [dict(r) for r in rows]
        if api == "v1":
            return [self.view.full_record(resource, r) for r in rows]
        if api == "v2":
            return [self.view_v2.render_full(resource, r) for r in rows]
        raise ValueError(f"api must be None, 'v1' or 'v2', not {api!r}")

    def truth_window(
        self,
        resource: str,
        field: str,
        start: int | str | datetime,
        end: int | str | datetime,
        as_of: int | str | datetime | None = None,
        api: str | None = None,
    ) -> list[dict[str, Any]]:
        """``truth`` restricted to records whose date ``field`` (API-neutral, v1 name: endDate,
        creationTime, evaluationDate; v2-only resources: their own names) lies in [start, end)."""
        low, high = to_epoch_ms(start), to_epoch_ms(end)
        rows = self.truth(resource, as_of)
        chosen = [r for r in rows if field in r and low <= r[field] < high]
        if api is None:
            return chosen
        rendered = {"v1": self.view.full_record, "v2": self.view_v2.render_full}[api]
        return [rendered(resource, r) for r in chosen]

    def truth_changes(
        self, since: int | str | datetime, until: int | str | datetime, resource: str | None = None
    ) -> list[Change]:
        """Live mode: every change that happened in [since, until) (by its ``time``), in order;
        ``Change.visible_at`` says when search shows it. Empty without live mode."""
        if self.live is None:
            return []
        with self._live_lock:
            self.sync()
            return self.live.changes(to_epoch_ms(since), to_epoch_ms(until), resource)


def to_epoch_ms(value: int | str | datetime) -> int:
    if isinstance(value, bool):
        raise ValueError("a time is epoch ms, an ISO 8601 string or an aware datetime")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return Clock(0).set(value)
    return parse_instant(value)


def config_start(config: SimulatorConfig) -> int:
    """Epoch ms the clock starts at: ``clock_start``, or just after the generated history."""
    return DEFAULT_START if config.clock_start is None else parse_instant(config.clock_start)


def _live_config(config: SimulatorConfig) -> LiveConfig:
    return LiveConfig(
        instances_per_minute=config.live_instances_per_minute,
        visibility_lag_ms=round(config.visibility_lag * 1000),
        late_fraction=config.late_fraction,
        late_ms=round(config.late_seconds * 1000),
        late_resources=tuple(config.late_resources),
    )
