"""Bounded time and memory for one HTTP answer (``source.limits``), used by ``http.py``.

``timeout_seconds`` bounds each wait for the next bytes, so a server dripping one byte every few
seconds could hold a request forever, and a body is as large as the server makes it. Here:

``Deadline``     one per request: connect, headers and the whole body must finish before it.
                 A single watchdog thread shuts down the socket of a request whose deadline
                 passed (the blocked read then returns at once); the request fails with
                 ``DeadlineExceeded`` (retried like a timeout). A TLS handshake too: wrapping
                 takes the socket's descriptor away from the object the deadline was given,
                 so the deadline keeps its own duplicate of a new TLS connection's descriptor
                 (closed when the request ends) and shuts the connection down through it.
``deadline_connection_class``  the pool's connection class, extended to hand every socket it
                 opens or reuses to the current thread's ``Deadline``.
``read_body``    reads the body in bounded chunks: a Content-Length over
                 ``max_response_bytes`` is refused before reading, a body without one as soon as
                 it grows past it (never more than the limit + one chunk in memory), and
                 gzip/deflate are decompressed here, chunk by chunk, up to
                 ``max_decompressed_bytes`` (a 500 KB gzip bomb stops at the limit, not at
                 500 MB). Limit hits raise ``ResponseRefused`` (not retried).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import requests
import urllib3

from exporter.spec import LimitsSpec
from exporter.transport.retry import DeadlineExceeded, ResponseRefused

ACCEPT_ENCODING = "gzip, deflate"  # what read_body can decode; sent on every request
READ_CHUNK = 256 * 1024  # bytes read from the socket (and inflated) per step


class Deadline:
    """The deadline of one request and the sockets it uses (thread-safe)."""

    __slots__ = ("_duplicates", "_lock", "_released", "_sockets", "at", "expired", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        # Descriptors this deadline duplicated (attach_duplicate) and must close (release).
        self._duplicates: list[socket.socket] = []
        self._released = False
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if any(known is sock for known in self._sockets):
                return
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def attach_duplicate(self, sock: socket.socket) -> None:
        """Watch ``sock``'s connection through a duplicate of its descriptor: for a socket that
        TLS wrapping is about to take over (the wrapped socket gets the descriptor and ``sock``
        is left detached, so shutting ``sock`` down would no longer reach the handshake)."""
        try:
            descriptor = os.dup(sock.fileno())
        except OSError:  # already closed: nothing left to watch
            return
        try:
            duplicate = socket.socket(fileno=descriptor)
        except OSError:
            os.close(descriptor)
            return
        with self._lock:
            if not self._released:
                self._duplicates.append(duplicate)
                if self.expired:
                    _shut(duplicate)
                return
        duplicate.close()  # the request already ended

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
            # Under the lock: release() closes these, and a closed descriptor's number may be
            # reused by another connection at once.
            for duplicate in self._duplicates:
                _shut(duplicate)
        for sock in sockets:
            _shut(sock)

    def release(self) -> None:
        """The request ended: close the duplicated descriptors (the connection itself stays
        open for keep-alive; a duplicate only adds a reference to it)."""
        with self._lock:
            self._released = True
            duplicates, self._duplicates = self._duplicates, []
            for duplicate in duplicates:
                duplicate.close()

    def exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(self.seconds)


def _shut(sock: socket.socket) -> None:
    """Unblock whoever reads ``sock``: its read returns EOF / fails at once. The plain socket
    method also for TLS sockets (their own ``shutdown`` tears down TLS state under the reader)."""
    with contextlib.suppress(OSError):  # already closed, or never connected
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread expiring the deadlines of requests in flight (at most one per thread)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active: set[Deadline] = set()
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None
        self._local = threading.local()

    def begin(self, seconds: float) -> Deadline:
        deadline = Deadline(seconds)
        with self._cond:
            self._active.add(deadline)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="request-deadlines", daemon=True
                )
                self._thread.start()
            if deadline.at < self._wake_at:
                self._cond.notify()
        self._local.current = deadline
        return deadline

    def end(self, deadline: Deadline) -> bool:
        """Stop watching ``deadline``; True if it expired (its sockets were shut down)."""
        self._local.current = None
        with self._cond:
            self._active.discard(deadline)
        deadline.release()
        return deadline.expired

    def current(self) -> Deadline | None:
        found: Deadline | None = getattr(self._local, "current", None)
        return found

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for deadline in [d for d in self._active if d.at <= now]:
                    self._active.discard(deadline)
                    deadline.expire()
                self._wake_at = min((d.at for d in self._active), default=float("inf"))
                wait = None if self._wake_at == float("inf") else self._wake_at - now
                self._cond.wait(wait)


WATCHDOG = _Watchdog()


class _DeadlineConnectionMixin:
    """Hands each socket the connection opens (TCP, then TLS) or reuses to the current
    thread's ``Deadline``, so the watchdog can unblock a request at any stage."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        _attach_current(sock)
        if isinstance(self, urllib3.connection.HTTPSConnection):
            deadline = WATCHDOG.current()
            if deadline is not None:  # the proxy tunnel and the handshake run on this socket
                deadline.attach_duplicate(sock)
        return sock

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _attach_current(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_current(self.sock)  # a kept-alive connection
        super().request(*args, **kwargs)  # type: ignore[misc]


def _attach_current(sock: socket.socket | None) -> None:
    deadline = WATCHDOG.current()
    if deadline is not None:
        deadline.attach(sock)


_CLASSES: dict[type, type] = {}
_CLASSES_LOCK = threading.Lock()


def arm_pool(pool: urllib3.HTTPConnectionPool) -> None:
    """Make ``pool`` open deadline-aware connections (whatever its connection class: plain,
    TLS, SOCKS). Idempotent."""
    base = pool.ConnectionCls
    if issubclass(base, _DeadlineConnectionMixin):
        return
    with _CLASSES_LOCK:
        armed = _CLASSES.get(base)
        if armed is None:
            armed = type(f"Deadline{base.__name__}", (_DeadlineConnectionMixin, base), {})
            _CLASSES[base] = armed
    pool.ConnectionCls = armed


# --------------------------------------------------------------------------- body


def _too_large(limit_key: str, limit: int, found: str) -> ResponseRefused:
    return ResponseRefused(
        f"response body over source.limits.{limit_key} = {limit} bytes ({found}); not retried: "
        f"raise source.limits.{limit_key} if such answers are legitimate"
    )


def declared_length(headers: Any) -> int | None:
    value = headers.get("Content-Length")
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None


def read_body(raw: urllib3.BaseHTTPResponse, limits: LimitsSpec) -> bytes:
    """The body, decoded, within ``limits``. The caller releases or closes the connection."""
    declared = declared_length(raw.headers)
    wire_limit = limits.max_response_bytes
    if declared is not None and declared > wire_limit:
        raise _too_large("max_response_bytes", wire_limit, f"Content-Length: {declared}")
    decoders = _decoders(raw.headers.get("Content-Encoding", ""))
    if not decoders and declared is not None:
        return bytes(raw.read(decode_content=False))  # size known and within the limit
    chunks: list[bytes] = []
    wire = size = 0
    while True:
        data = raw.read(min(READ_CHUNK, wire_limit + 1 - wire), decode_content=False)
        if not data:
            break
        wire += len(data)
        if wire > wire_limit:
            raise _too_large("max_response_bytes", wire_limit, "no Content-Length; cut off")
        size = _collect(_through(decoders, data), chunks, size, limits.max_decompressed_bytes)
    _collect(_flushed(decoders), chunks, size, limits.max_decompressed_bytes)
    return b"".join(chunks)


def _collect(pieces: Iterator[bytes], chunks: list[bytes], size: int, limit: int) -> int:
    for piece in pieces:
        size += len(piece)
        if size > limit:
            raise _too_large("max_decompressed_bytes", limit, "after decompression; cut off")
        chunks.append(piece)
    return size


class _Inflater:
    """gzip (every member) or deflate (zlib-wrapped or raw), inflated at most READ_CHUNK bytes
    at a time, so the output can be counted before it is all in memory."""

    def __init__(self, coding: str) -> None:
        self._gzip = coding in ("gzip", "x-gzip")
        self._inflater: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if self._gzip else None

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._inflater is None:  # deflate: zlib header (RFC 1950) or raw (RFC 1951)
            wrapped = (
                len(data) >= 2 and (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
            )
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        while data:
            try:
                out = self._inflater.decompress(data, READ_CHUNK)
            except zlib.error as exc:
                raise requests.exceptions.ContentDecodingError(exc) from None
            if out:
                yield out
            data = self._inflater.unconsumed_tail
            if not data and self._gzip and self._inflater.eof and self._inflater.unused_data:
                data = self._inflater.unused_data  # the next gzip member
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def flush(self) -> bytes:
        return bytes(self._inflater.flush()) if self._inflater is not None else b""


def _decoders(content_encoding: str) -> list[_Inflater]:
    """Decoders in the order to apply them (the reverse of the header's order)."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    decoders = []
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise ResponseRefused(
                f"response uses Content-Encoding {coding[:40]!r}, which was not asked for "
                f"(Accept-Encoding: {ACCEPT_ENCODING})"
            )
        decoders.append(_Inflater(coding))
    return decoders


def _through(decoders: list[_Inflater], data: bytes) -> Iterator[bytes]:
    """``data`` passed lazily through every decoder (nothing held beyond one chunk each)."""
    if not decoders:
        yield data
        return
    for piece in decoders[0].feed(data):
        yield from _through(decoders[1:], piece)


def _flushed(decoders: list[_Inflater]) -> Iterator[bytes]:
    for index, decoder in enumerate(decoders):
        rest = decoder.flush()
        if rest:
            yield from _through(decoders[index + 1 :], rest)
