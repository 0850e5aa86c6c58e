"""Credential objects: one per run, shared by every export thread.

    Authenticator (protocol)
    ├── NoAuth            mode none: nothing added
    ├── BasicAuth         mode basic: ``Authorization: Basic`` on every request (Camunda 8.8+)
    ├── ClientCredentials modes saas / identity: OAuth2 client-credentials token, cached, renewed
    │                     before it expires, ``Authorization: Bearer``
    └── CookieSession     mode cookie: ``POST /api/login`` (form body), session cookie + CSRF token

Life cycle, as ``exporter.transport.http.Transport`` drives it for every request:

    generation = auth.apply(headers, method)   # add credentials; lazily fetch token / log in
    ... send ...
    auth.observe(response, generation)         # cookie mode: keep the latest CSRF token
    on 401: auth.invalidate(reason, generation) -> True: retry once with a fresh credential

``generation`` identifies the credential a request carried. ``invalidate`` drops the credential
only if it is still that one, so when eight threads see the same expired token, one renewal
happens and the other seven reuse its result instead of each fetching their own.

Token/login requests go through the same ``Transport.execute`` retry loop as API calls: an
unreachable endpoint or a 5xx is retried with backoff; a 400/401/403 (wrong secret or password)
fails at once with ``AuthError``. Such a failure is remembered for the run, so other threads fail
fast instead of asking the token endpoint again.

Secrets (client secret, password, token, cookie, CSRF token) are never put into a message or a
repr. Each authenticator registers every secret it holds or learns with
``exporter.errors.register_secrets`` before it is ever sent, so any text a server echoes back
(in any error, whatever the status) is scrubbed; ``secret_values()`` lists the live ones.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from exporter.errors import (
    AuthError,
    RetriesExhausted,
    SpecError,
    SpecProblem,
    redact_secrets,
    redact_url,
    register_secrets,
)
from exporter.spec import AuthSpec, SourceSpec
from exporter.transport.http import Authenticator, HttpResponse, Transport
from exporter.transport.retry import Expect, Kind, Verdict

log = logging.getLogger(__name__)

SESSION_COOKIE_NAMES = ("OPERATE-SESSION", "camunda-session")
CSRF_HEADER_NAMES = ("X-CSRF-TOKEN", "OPERATE-X-CSRF-TOKEN")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

# Token lifetime handling.
MIN_RENEWAL_MARGIN_SECONDS = 30.0
RENEWAL_MARGIN_FRACTION = 0.05
ASSUMED_LIFETIME_SECONDS = 60.0  # when expires_in is missing or nonsense
MAX_LIFETIME_SECONDS = 24 * 3600.0


def build_authenticator(source: SourceSpec, transport: Transport) -> Authenticator:
    """The authenticator for ``source.auth.mode``."""
    auth = source.auth
    if auth.mode == "none":
        return NoAuth()
    if auth.mode == "basic":
        _require(auth, "username", "password")
        assert auth.username is not None and auth.password is not None
        return BasicAuth(auth.username, auth.password)
    if auth.mode in ("saas", "identity"):
        _require(auth, "client_id", "client_secret")
        if auth.mode == "identity" and not auth.token_url:
            raise SpecError([SpecProblem("source.auth.token_url", "required for mode identity")])
        return ClientCredentials(auth, transport)
    if auth.mode == "cookie":
        _require(auth, "username", "password")
        return CookieSession(auth, source.base_url, transport)
    raise SpecError(
        [
            SpecProblem(
                "source.auth.mode",
                f"unknown auth mode {auth.mode!r}; valid modes are: "
                "saas, identity, cookie, basic, none",
            )
        ]
    )


def _require(auth: AuthSpec, *names: str) -> None:
    missing = [n for n in names if not getattr(auth, n)]
    if missing:
        raise SpecError(
            [SpecProblem(f"source.auth.{n}", f"required for mode {auth.mode}") for n in missing]
        )


def scrub(text: str | None, secrets: Iterable[str]) -> str | None:
    """Replace any secret value inside a server-provided text by ``***``, in every spelling
    (``secrets`` are registered first, so they stay scrubbed everywhere else too)."""
    register_secrets(*secrets)
    return redact_secrets(text) if text else text


def _reason(verdict: Verdict, secrets: Iterable[str]) -> str:
    server = scrub(verdict.server_message, secrets)
    return f"{verdict.reason}: {server}" if server else verdict.reason


class NoAuth:
    mode = "none"

    def prepare(self, session: object | None = None) -> None:
        return None

    def apply(self, headers: dict[str, str], method: str) -> int:
        return 0

    def observe(self, response: HttpResponse, generation: int) -> None:
        return None

    def invalidate(self, reason: str, generation: int | None = None) -> bool:
        return False  # nothing to renew: a 401 is final

    def secret_values(self) -> list[str]:
        return []

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "NoAuth()"


class BasicAuth:
    """HTTP Basic: the server checks the password on every request; nothing to renew."""

    mode = "basic"

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._header = f"Basic {token}"
        register_secrets(password, token)

    def prepare(self, session: object | None = None) -> None:
        return None

    def apply(self, headers: dict[str, str], method: str) -> int:
        headers["Authorization"] = self._header
        return 0

    def observe(self, response: HttpResponse, generation: int) -> None:
        return None

    def invalidate(self, reason: str, generation: int | None = None) -> bool:
        return False  # the same password would be rejected again

    def secret_values(self) -> list[str]:
        return [self._password, self._header, self._header.removeprefix("Basic ")]

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "BasicAuth(username=<set>, password=<redacted>)"


@dataclass(frozen=True)
class _Token:
    value: str
    generation: int
    obtained_at: float
    lifetime: float

    def renew_at(self) -> float:
        """Renew when less than max(30 s, 5%) of the lifetime is left, but never in the first
        half of it, so that short-lived tokens (a few seconds) are still reused."""
        margin = max(MIN_RENEWAL_MARGIN_SECONDS, RENEWAL_MARGIN_FRACTION * self.lifetime)
        margin = min(margin, self.lifetime / 2)
        return self.obtained_at + self.lifetime - margin


class ClientCredentials:
    """OAuth2 client credentials (saas and identity), one cached token per run.

    saas: JSON body by default (Operate 8.4 docs), ``token_request_format: form`` for a form body.
    identity: always form-encoded (Keycloak's token endpoint accepts nothing else).
    ``audience`` is sent when set (the spec loader fills the mode's default; null omits it).
    """

    def __init__(
        self,
        auth: AuthSpec,
        transport: Transport,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from exporter.spec import DEFAULT_SAAS_TOKEN_URL

        assert auth.client_id is not None and auth.client_secret is not None
        self.mode = auth.mode
        self.token_url = auth.token_url or DEFAULT_SAAS_TOKEN_URL
        self._client_id = auth.client_id
        self._client_secret = auth.client_secret
        self._audience = auth.audience
        self._scope = auth.scope
        self._form = auth.mode == "identity" or auth.token_request_format == "form"
        self._transport = transport
        self._clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self._generation = 0
        self._failure: AuthError | None = None
        self._issued: list[str] = []  # every token value obtained (for secret_values)
        self.tokens_fetched = 0
        register_secrets(self._client_secret)

    def __repr__(self) -> str:
        return (
            f"ClientCredentials(mode={self.mode!r}, token_url={redact_url(self.token_url)!r}, "
            "client_secret=<redacted>)"
        )

    def prepare(self, session: object | None = None) -> None:
        self._current()

    def apply(self, headers: dict[str, str], method: str) -> int:
        token = self._current()
        headers["Authorization"] = f"Bearer {token.value}"
        return token.generation

    def observe(self, response: HttpResponse, generation: int) -> None:
        return None

    def invalidate(self, reason: str, generation: int | None = None) -> bool:
        with self._lock:
            token = self._token
            if token is not None and (generation is None or token.generation == generation):
                log.info("%s token rejected (%s); a new one will be requested", self.mode, reason)
                self._token = None
        return True

    def secret_values(self) -> list[str]:
        with self._lock:
            return [self._client_secret, *self._issued]

    def close(self) -> None:
        with self._lock:
            self._token = None

    def _current(self) -> _Token:
        token = self._token
        if token is not None and self._clock() < token.renew_at():
            return token
        with self._lock:  # one renewal at a time; waiting threads reuse its result
            if self._failure is not None:
                raise AuthError(str(self._failure))
            token = self._token
            if token is not None and self._clock() < token.renew_at():
                return token
            try:
                self._token = self._fetch()
            except AuthError as exc:
                self._failure = exc
                raise
            return self._token

    def _fetch(self) -> _Token:
        fields = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        if self._audience:
            fields["audience"] = self._audience
        if self._scope:
            fields["scope"] = self._scope
        if self._form:
            data: bytes | dict[str, str] = fields
            headers = {"Accept": "application/json"}
        else:
            import orjson

            data = orjson.dumps(fields)
            headers = {"Accept": "application/json", "Content-Type": "application/json"}
        where = f"{self.mode} authentication: token request to {redact_url(self.token_url)}"
        started = self._clock()
        try:
            exchange = self._transport.execute(
                "POST", self.token_url, expect=Expect.JSON, data=data, headers=headers
            )
        except RetriesExhausted as exc:
            raise AuthError(f"{where} failed: {exc}") from None
        verdict = exchange.verdict
        if verdict.kind is not Kind.OK:
            raise AuthError(
                f"{where} was rejected ({_reason(verdict, [self._client_secret])}); "
                "check client_id, client_secret, audience and token_url"
            )
        body = verdict.value
        access_token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(access_token, str) or not access_token:
            raise AuthError(f"{where} failed: the answer has no access_token")
        register_secrets(access_token)
        lifetime = self._lifetime(body.get("expires_in"))
        self._generation += 1
        self._issued.append(access_token)
        self.tokens_fetched += 1
        log.debug("%s token obtained, valid for %.0f s", self.mode, lifetime)
        return _Token(access_token, self._generation, started, lifetime)

    def _lifetime(self, expires_in: object) -> float:
        try:
            seconds = float(expires_in)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            seconds = float("nan")
        if not seconds > 0:  # missing, junk, zero, negative, NaN
            log.warning(
                "%s token endpoint sent no usable expires_in (%s); assuming %.0f s",
                self.mode,
                "missing" if expires_in is None else "not a positive number",
                ASSUMED_LIFETIME_SECONDS,
            )
            return ASSUMED_LIFETIME_SECONDS
        return min(seconds, MAX_LIFETIME_SECONDS)


@dataclass(frozen=True)
class _Session:
    cookies: dict[str, str]
    csrf_name: str | None
    csrf_value: str | None
    generation: int

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())


class CookieSession:
    """Operate's cookie session: ``POST /api/login``, session cookie, CSRF header on POSTs.

    The password goes in a form-encoded body, never in the URL. The server's session and CSRF
    cookies are sent back on every request; the CSRF token is read from whichever of
    ``X-CSRF-TOKEN`` / ``OPERATE-X-CSRF-TOKEN`` the server sends (on login and any later
    response, the latest wins) and sent back under that name on every non-GET request.
    """

    mode = "cookie"

    def __init__(self, auth: AuthSpec, base_url: str, transport: Transport) -> None:
        assert auth.username is not None and auth.password is not None
        base = base_url.rstrip("/")
        self.login_url = f"{base}/api/login"
        self.logout_url = f"{base}/api/logout"
        self._username = auth.username
        self._password = auth.password
        self._transport = transport
        self._lock = threading.Lock()
        self._session: _Session | None = None
        self._generation = 0
        self._failure: AuthError | None = None
        self._seen: set[str] = set()  # every cookie/CSRF value seen (for secret_values)
        self.logins = 0
        register_secrets(self._password)

    def __repr__(self) -> str:
        return f"CookieSession(login_url={redact_url(self.login_url)!r}, password=<redacted>)"

    def prepare(self, session: object | None = None) -> None:
        self._current()

    def apply(self, headers: dict[str, str], method: str) -> int:
        current = self._current()
        headers["Cookie"] = current.cookie_header()
        if method.upper() not in _SAFE_METHODS and current.csrf_name and current.csrf_value:
            headers[current.csrf_name] = current.csrf_value
        return current.generation

    def observe(self, response: HttpResponse, generation: int) -> None:
        found = _csrf_from(response)
        cookies = dict(response.cookies.items())
        if found is None and not cookies:
            return
        with self._lock:
            current = self._session
            if current is None or current.generation != generation:
                return  # an answer to an older session: ignore
            merged = {**current.cookies, **{k: v for k, v in cookies.items() if v}}
            name, value = found if found else (current.csrf_name, current.csrf_value)
            self._remember(*merged.values(), value)
            self._session = _Session(merged, name, value, current.generation)

    def _remember(self, *values: str | None) -> None:
        """Session cookies and CSRF tokens are secrets from the moment they are received."""
        known = [v for v in values if v]
        self._seen.update(known)
        register_secrets(*known)

    def invalidate(self, reason: str, generation: int | None = None) -> bool:
        with self._lock:
            current = self._session
            if current is not None and (generation is None or current.generation == generation):
                log.info("cookie session ended (%s); logging in again", reason)
                self._session = None
        return True

    def secret_values(self) -> list[str]:
        with self._lock:
            return [self._password, *sorted(self._seen)]

    def close(self) -> None:
        with self._lock:
            current, self._session = self._session, None
        if current is None:
            return
        headers = {"Cookie": current.cookie_header()}
        if current.csrf_name and current.csrf_value:
            headers[current.csrf_name] = current.csrf_value
        try:
            self._transport.execute("POST", self.logout_url, expect=Expect.NOTHING, headers=headers)
        except Exception as exc:  # logout is best effort: the export is already done
            log.info(
                "cookie logout failed (%s); the session will expire on its own", type(exc).__name__
            )
        else:
            log.debug("cookie session logged out")

    def _current(self) -> _Session:
        current = self._session
        if current is not None:
            return current
        with self._lock:
            if self._failure is not None:
                raise AuthError(str(self._failure))
            if self._session is not None:
                return self._session
            try:
                self._session = self._login()
            except AuthError as exc:
                self._failure = exc
                raise
            return self._session

    def _login(self) -> _Session:
        where = f"cookie authentication: login at {redact_url(self.login_url)}"
        try:
            exchange = self._transport.execute(
                "POST",
                self.login_url,
                expect=Expect.NOTHING,
                data={"username": self._username, "password": self._password},
            )
        except RetriesExhausted as exc:
            raise AuthError(f"{where} failed: {exc}") from None
        verdict = exchange.verdict
        response = exchange.response
        if verdict.kind is not Kind.OK or response is None:
            raise AuthError(
                f"{where} was rejected ({_reason(verdict, [self._password])}); "
                "check username and password"
            )
        cookies = {k: v for k, v in response.cookies.items() if v}
        if not cookies:
            raise AuthError(
                f"{where} succeeded (HTTP {verdict.status}) but set no session cookie "
                f"(expected one of {', '.join(SESSION_COOKIE_NAMES)})"
            )
        if not any(name in cookies for name in SESSION_COOKIE_NAMES):
            log.warning(
                "cookie login set no %s cookie; sending back the cookies it did set (%s)",
                " / ".join(SESSION_COOKIE_NAMES),
                ", ".join(sorted(cookies)),
            )
        found = _csrf_from(response)
        name, value = found if found else (None, None)
        self._generation += 1
        self.logins += 1
        self._remember(*cookies.values(), value)
        log.debug("cookie login succeeded (CSRF header: %s)", name or "none sent")
        return _Session(cookies, name, value, self._generation)


def _csrf_from(response: HttpResponse) -> tuple[str, str] | None:
    for name in CSRF_HEADER_NAMES:
        value = response.headers.get(name)
        if value:
            return name, value
    return None
