"""HTTP for the exporter: sessions, timeouts, TLS, classify-then-retry, big-int-safe JSON.

Two layers:

``Transport``  one per run. Thread-local ``requests.Session`` objects whose adapter pools hold
               the keep-alive connections; each request goes straight through the pool the
               adapter picks (``_send``: requests' proxy, TLS and URL rules, urllib3 speed), the
               timeout and TLS settings of the source, and ``execute()``: the single retry loop.
               It sends, classifies the outcome with ``retry.py`` and retries RETRY verdicts
               with backoff; on a 401 it asks the authenticator to invalidate its credential and
               tries once more. The authenticators use it for token and login requests too, so
               every request the tool makes obeys the same rules.
``ApiClient``  what paging and hydration call: ``post_json`` / ``get_json`` / ``get_text`` against
               ``source.base_url``; turns final verdicts into ``ApiError`` / ``AuthError`` /
               ``RetriesExhausted``.

Every request is bounded by ``source.limits`` (``limits.py``): a total deadline for connect,
headers and body, and caps on the body's size on the wire and after decompression.

Sessions never store cookies (a rejecting cookie policy): the cookie authenticator owns the one
session cookie and adds it to each request itself, so all threads share one login.
"""

from __future__ import annotations

import http.cookiejar
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast
from urllib.parse import urlencode, urlsplit

import requests
import requests.cookies
import urllib3
from requests.adapters import HTTPAdapter

from exporter.errors import (
    RetriesExhausted,
    SpecError,
    SpecProblem,
    redact_url,
)
from exporter.spec import SourceSpec, TlsSpec
from exporter.transport.limits import ACCEPT_ENCODING, WATCHDOG, arm_pool, read_body
from exporter.transport.retry import (
    Expect,
    Kind,
    Verdict,
    backoff_delay,
    classify_exception,
    classify_response,
)
from exporter.version import __version__

log = logging.getLogger(__name__)

_JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}
# URLs whose pool and request target a thread remembers (see ``Transport._route``).
_MAX_ROUTES = 256
_XML_ACCEPT = {"Accept": "application/xml, text/xml;q=0.9, text/plain;q=0.8"}


class Authenticator(Protocol):
    """What the HTTP layer needs from a credential object. Implementations are thread-safe."""

    mode: str

    def prepare(self, session: object | None = None) -> None:
        """Obtain the credential now (fail fast on bad credentials)."""

    def apply(self, headers: dict[str, str], method: str) -> int:
        """Add the credential to ``headers``; return the credential's generation."""

    def observe(self, response: HttpResponse, generation: int) -> None:
        """Look at every response (cookie mode picks up rotated CSRF tokens)."""

    def invalidate(self, reason: str, generation: int | None = None) -> bool:
        """After a 401: drop the credential if still ``generation``. True = worth one retry."""

    def secret_values(self) -> list[str]:
        """The live secrets, for scrubbing server messages and for leak tests."""

    def close(self) -> None:
        """End the session (cookie logout). Safe to call twice."""


@dataclass
class RequestStats:
    """Counters of one export; the client increments them (thread-safe via ``add``)."""

    requests: int = 0  # HTTP requests sent, retries included
    retries: int = 0  # retriable failures that were retried after a backoff
    bytes_received: int = 0
    reauthentications: int = 0  # 401s answered by a new token / login and one more try
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(
        self,
        *,
        requests: int = 0,
        retries: int = 0,
        bytes_received: int = 0,
        reauthentications: int = 0,
    ) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.bytes_received += bytes_received
            self.reauthentications += reauthentications


@dataclass(frozen=True)
class Exchange:
    """The final outcome of ``Transport.execute``: a verdict that is not RETRY, and the response."""

    verdict: Verdict
    response: HttpResponse | None
    reauthenticated: bool = False


class HttpResponse:
    """A received answer: status, case-insensitive headers, the whole body, the cookies it set.

    What the classifier and the authenticators read of a response, and nothing else; ``cookies``
    is a requests cookie jar filled with requests' own rules (only when the answer set any).
    """

    __slots__ = ("content", "cookies", "headers", "status_code")

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str],
        content: bytes,
        cookies: requests.cookies.RequestsCookieJar,
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content
        self.cookies = cookies

    def __repr__(self) -> str:
        return f"HttpResponse(status_code={self.status_code}, {len(self.content)} bytes)"


class _RejectAllCookies(http.cookiejar.DefaultCookiePolicy):
    """Sessions keep no cookies: the cookie authenticator manages the session cookie itself."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def resolve_verify(tls: TlsSpec) -> bool | str:
    """The ``verify`` argument for requests: True, False or a CA bundle path (checked here)."""
    if not tls.verify:
        # We log our own single warning instead of urllib3's warning on every request.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        log.warning(
            "TLS certificate verification is OFF (source.tls.verify: false): the server's "
            "identity is not checked; use this only for throw-away test clusters"
        )
        return False
    if tls.ca_bundle:
        path = os.path.expanduser(tls.ca_bundle)
        if not os.path.isfile(path):
            raise SpecError(
                [SpecProblem("source.tls.ca_bundle", f"CA bundle file not found: {path}")]
            )
        return path
    return True


class Transport:
    """Thread-local sessions plus the one retry loop. Shared by the API client and auth."""

    def __init__(
        self,
        source: SourceSpec,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.source = source
        self.timeout = source.timeout_seconds
        self.retry = source.retry
        self.limits = source.limits
        self.verify = resolve_verify(source.tls)
        self._timeout = urllib3.Timeout(connect=self.timeout, read=self.timeout)
        self._default_headers = requests.utils.default_headers()
        self._default_headers["User-Agent"] = f"operate-export/{__version__}"
        # Only what limits.read_body can inflate within its cap (not br/zstd, which
        # requests would offer when their modules happen to be installed).
        self._default_headers["Accept-Encoding"] = ACCEPT_ENCODING
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._closed = False
        self._environments: dict[tuple[str, str], _Environment] = {}
        # source.max_in_flight: every attempt of every thread (searches, lookups, tokens) holds
        # a slot while its request is on the wire, so the run never has more at once. Not held
        # across retry backoffs, which would idle the other threads' slots.
        self._in_flight = threading.BoundedSemaphore(max(1, source.max_in_flight))

    def __repr__(self) -> str:
        return f"Transport(base_url={redact_url(self.source.base_url)!r})"

    def session(self) -> requests.Session:
        """This thread's session (connection pool with keep-alive)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.cookies.set_policy(_RejectAllCookies())
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=4, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = f"operate-export/{__version__}"
            # The environment (proxy variables, no_proxy, CA bundle variables, .netrc) is
            # resolved once per origin by ``_environment`` and passed explicitly: with
            # trust_env, requests re-reads all of it on every request (a measurable share of
            # a request's CPU when pages arrive at 300 per second).
            session.trust_env = False
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _adapter(self) -> HTTPAdapter:
        """This thread's requests adapter: its pools carry the keep-alive connections."""
        adapter: HTTPAdapter | None = getattr(self._local, "adapter", None)
        if adapter is None:
            found = self.session().get_adapter("https://")
            assert isinstance(found, HTTPAdapter)
            adapter = self._local.adapter = found
        return adapter

    def _route(
        self, adapter: HTTPAdapter, url: str, env: _Environment
    ) -> tuple[urllib3.HTTPConnectionPool, str, str]:
        """(pool, request target, prepared URL) for ``url``, as ``HTTPAdapter.send`` finds them.

        Remembered per thread and URL (a search sends the same URL for every page), so the URL
        preparation and pool lookup run once; a pool the adapter has since closed is looked up
        again.
        """
        routes: dict[str, tuple[urllib3.HTTPConnectionPool, str, str]] | None
        routes = getattr(self._local, "routes", None)
        if routes is None:
            routes = self._local.routes = {}
        found = routes.get(url)
        if found is not None and found[0].pool is not None:
            return found
        prepared = requests.PreparedRequest()
        prepared.prepare_url(url, None)  # requests' URL checks: MissingSchema, InvalidURL, ...
        assert prepared.url is not None
        try:
            # Typed as urllib3's abstract ConnectionPool; for http(s) URLs it is an HTTP one.
            pool = cast(
                urllib3.HTTPConnectionPool,
                adapter.get_connection_with_tls_context(prepared, env.verify, proxies=env.proxies),
            )
        except urllib3.exceptions.LocationValueError as exc:
            raise requests.exceptions.InvalidURL(exc) from exc
        adapter.cert_verify(pool, prepared.url, env.verify, None)
        arm_pool(pool)  # its connections report their sockets to the request deadline
        found = (pool, adapter.request_url(prepared, env.proxies), prepared.url)
        if len(routes) >= _MAX_ROUTES:  # hydration GETs have a URL per key: stay bounded
            routes.clear()
        routes[url] = found
        return found

    def _environment(self, url: str) -> _Environment:
        """What requests' ``trust_env`` would derive from the environment for ``url``'s origin.

        Proxies and netrc credentials depend only on scheme and host, so one resolution per
        origin gives exactly requests' own answer (``merge_environment_settings``).
        """
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        found = self._environments.get(origin)
        if found is None:
            probe = requests.Session()  # trust_env=True: requests' own resolution rules
            try:
                settings = probe.merge_environment_settings(url, {}, None, self.verify, None)
                netrc = requests.utils.get_netrc_auth(url)
            finally:
                probe.close()
            found = _Environment(settings["proxies"], settings["verify"], netrc)
            self._environments[origin] = found  # a race only computes the same value twice
        return found

    def execute(
        self,
        method: str,
        url: str,
        *,
        expect: Expect,
        data: bytes | dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        stats: RequestStats | None = None,
        authenticator: Authenticator | None = None,
    ) -> Exchange:
        """Send until the outcome is not retriable or the retry budget is spent.

        Returns the final OK / FATAL / UNAUTHORIZED verdict; raises ``RetriesExhausted`` when
        ``retry.max_attempts`` attempts all ended in a retriable failure.
        """
        stats = stats if stats is not None else RequestStats()
        failures = 0
        reauthenticated = False
        while True:
            attempt_headers = dict(headers or {})
            generation = authenticator.apply(attempt_headers, method) if authenticator else 0
            verdict, response = self._attempt(method, url, attempt_headers, data, expect, stats)
            if response is not None and authenticator is not None:
                authenticator.observe(response, generation)
            if verdict.kind is Kind.RETRY:
                failures += 1
                if failures >= self.retry.max_attempts:
                    raise _exhausted(method, url, failures, verdict)
                delay = self._backoff(failures - 1, verdict)
                log.warning(
                    "retrying %s %s after %s (attempt %d/%d failed), waiting %.2f s",
                    method,
                    redact_url(url),
                    verdict.reason,
                    failures,
                    self.retry.max_attempts,
                    delay,
                )
                stats.add(retries=1)
                self._sleep(delay)
                continue
            if (
                verdict.kind is Kind.UNAUTHORIZED
                and authenticator is not None
                and not reauthenticated
                and authenticator.invalidate(f"HTTP 401 from {redact_url(url)}", generation)
            ):
                reauthenticated = True
                stats.add(reauthentications=1)
                log.info(
                    "%s %s answered 401; re-authenticating (%s) and trying once more",
                    method,
                    redact_url(url),
                    authenticator.mode,
                )
                continue
            return Exchange(verdict, response, reauthenticated)

    def _attempt(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | dict[str, str] | None,
        expect: Expect,
        stats: RequestStats,
    ) -> tuple[Verdict, HttpResponse | None]:
        try:
            with self._in_flight:
                response = self._send(method, url, headers, data)
        except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
            stats.add(requests=1)
            return classify_exception(exc, self.timeout), None
        stats.add(requests=1, bytes_received=len(response.content))
        verdict = classify_response(
            response.status_code, response.headers, response.content, expect
        )
        return verdict, response

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | dict[str, str] | None,
    ) -> HttpResponse:
        """One request straight through the connection pool of this thread's requests adapter.

        What ``Session.request`` + ``HTTPAdapter.send`` do, minus the per-request machinery
        that costs a third of a request's CPU (settings and hook merging, a PreparedRequest
        with header/body preparation, a Response with a cookie jar filled through cookielib):
        the adapter still chooses the pool, so proxies (with their credentials), TLS verify /
        CA bundle and keep-alive are requests' own; urllib3's exceptions are translated as
        ``HTTPAdapter.send`` translates them, so ``classify_exception`` sees the same classes.
        Bounded by ``source.limits``: the watchdog shuts the socket down when the request's
        deadline passes, whatever it is waiting for (``DeadlineExceeded``, retried).
        """
        deadline = WATCHDOG.begin(self.limits.request_deadline_seconds)
        try:
            raw, cookies = self._open(method, url, headers, data, deadline.remaining())
            try:
                content = read_body(raw, self.limits)
            except BaseException:
                raw.close()  # an unfinished body: the connection cannot be reused
                raw.release_conn()
                raise
        except Exception as exc:
            if WATCHDOG.end(deadline):
                raise deadline.exceeded() from None
            if isinstance(exc, urllib3.exceptions.HTTPError):
                raise _body_error(exc) from exc
            raise
        if WATCHDOG.end(deadline):  # expired just as the body completed: the socket is shut
            raw.close()
        raw.release_conn()  # the connection goes back to the pool for keep-alive
        return HttpResponse(raw.status, raw.headers, content, cookies)

    def _open(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | dict[str, str] | None,
        remaining: float,
    ) -> tuple[urllib3.BaseHTTPResponse, requests.cookies.RequestsCookieJar]:
        """Send the request and read the answer's head: (response with unread body, cookies)."""
        env = self._environment(url)
        adapter = self._adapter()
        pool, target, prepared_url = self._route(adapter, url, env)
        sent = urllib3.HTTPHeaderDict(self._default_headers)
        for name, value in headers.items():
            sent[name] = value
        if env.netrc is not None and "Authorization" not in sent:
            sent["Authorization"] = _basic_authorization(*env.netrc)
        body: bytes | None
        if isinstance(data, dict):
            body = urlencode(data, doseq=True).encode("ascii")
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        else:
            body = data
        if body is not None:
            sent["Content-Length"] = str(len(body))
        elif method not in ("GET", "HEAD"):
            sent["Content-Length"] = "0"
        try:
            raw = pool.urlopen(
                method=method,
                url=target,
                body=body,
                headers=sent,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
                retries=adapter.max_retries,
                timeout=self._timeout_within(remaining),
                chunked=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise _as_requests_error(exc) from exc
        except OSError as exc:
            raise requests.exceptions.ConnectionError(exc) from exc
        cookies = requests.cookies.RequestsCookieJar()
        if "Set-Cookie" in raw.headers:  # only logins and session refreshes set cookies
            prepared = requests.PreparedRequest()
            prepared.prepare(method=method, url=prepared_url, headers=sent)
            requests.cookies.extract_cookies_to_jar(cookies, prepared, raw)
        return raw, cookies

    def _timeout_within(self, remaining: float) -> urllib3.Timeout:
        if remaining >= self.timeout:
            return self._timeout
        return urllib3.Timeout(connect=max(remaining, 0.001), read=self.timeout)

    def _backoff(self, retry_number: int, verdict: Verdict) -> float:
        with self._rng_lock:
            return backoff_delay(
                retry_number,
                initial=self.retry.initial_backoff_seconds,
                maximum=self.retry.max_backoff_seconds,
                retry_after=verdict.retry_after,
                rng=self._rng,
            )

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
            self._closed = True
        for session in sessions:
            session.close()


@dataclass(frozen=True)
class _Environment:
    """Per-origin request settings from the environment (see ``Transport._environment``)."""

    proxies: MutableMapping[str, str]
    verify: bool | str | None
    netrc: tuple[str, str] | None


def _body_error(exc: urllib3.exceptions.HTTPError) -> Exception:
    """A urllib3 failure while reading a body, as requests' ``iter_content`` translates it, so
    the retry classification sees the same exceptions as with ``response.content`` (urllib3
    enforces Content-Length, so a cut-off body lands here)."""
    errors = requests.exceptions
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return errors.ChunkedEncodingError(exc)
    if isinstance(exc, urllib3.exceptions.DecodeError):
        return errors.ContentDecodingError(exc)
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return errors.ConnectionError(exc)
    if isinstance(exc, urllib3.exceptions.SSLError):
        return errors.SSLError(exc)
    return exc


def _as_requests_error(exc: urllib3.exceptions.HTTPError) -> Exception:
    """The requests exception ``HTTPAdapter.send`` raises for a urllib3 failure of ``urlopen``."""
    errors = requests.exceptions
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return errors.ConnectionError(exc)
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        reason = exc.reason
        if isinstance(reason, urllib3.exceptions.ConnectTimeoutError) and not isinstance(
            reason, urllib3.exceptions.NewConnectionError
        ):
            return errors.ConnectTimeout(exc)
        if isinstance(reason, urllib3.exceptions.ResponseError):
            return errors.RetryError(exc)
        if isinstance(reason, urllib3.exceptions.ProxyError):
            return errors.ProxyError(exc)
        if isinstance(reason, urllib3.exceptions.SSLError):
            return errors.SSLError(exc)
        return errors.ConnectionError(exc)
    if isinstance(exc, urllib3.exceptions.ClosedPoolError):
        return errors.ConnectionError(exc)
    if isinstance(exc, urllib3.exceptions.ProxyError):
        return errors.ProxyError(exc)
    if isinstance(exc, urllib3.exceptions.SSLError):
        return errors.SSLError(exc)
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return errors.ReadTimeout(exc)
    if isinstance(exc, urllib3.exceptions.InvalidHeader):
        return errors.InvalidHeader(exc)
    return exc


def _basic_authorization(username: str, password: str) -> str:
    """The header requests' ``HTTPBasicAuth`` sends for .netrc credentials (latin-1, base64)."""
    return urllib3.util.make_headers(basic_auth=f"{username}:{password}")["authorization"]


def _exhausted(method: str, url: str, attempts: int, verdict: Verdict) -> RetriesExhausted:
    return RetriesExhausted(
        f"{method} {redact_url(url)} failed {attempts} times in a row "
        f"(retry.max_attempts = {attempts}); last failure: {verdict.reason}",
        status=verdict.status,
        url=url,
        server_message=verdict.server_message,
        instance=verdict.instance,
    )
