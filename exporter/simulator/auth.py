"""The five auth modes: none, saas (OAuth token), identity (Keycloak token), cookie, basic.

Tokens and session ids are random opaque strings that really expire. Nothing here ever puts a
credential, token or cookie value into a message.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

import orjson

from exporter.simulator.responses import Response, json_response, problem, unauthorized

MODES = ("none", "saas", "identity", "cookie", "basic")
SAAS_TOKEN_PATH = "/oauth/token"
IDENTITY_TOKEN_PATH = "/auth/realms/camunda-platform/protocol/openid-connect/token"
LOGIN_PATH = "/api/login"
LOGOUT_PATH = "/api/logout"
SESSION_COOKIE = "OPERATE-SESSION"
SAAS_AUDIENCE = "operate.camunda.io"
IDENTITY_AUDIENCE = "operate-api"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


@dataclass
class _Session:
    csrf: str
    created: float
    requests: int = 0


def _form(body: bytes) -> dict[str, str]:
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in parsed.items()}


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class Authenticator:
    def __init__(
        self,
        mode: str,
        *,
        client_id: str,
        client_secret: str,
        username: str,
        password: str,
        token_ttl: int,
        csrf_header: str,
        session_max_age: float | None,
        session_max_requests: int | None,
        count: Callable[[str], None],
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown auth mode {mode!r}; valid modes: {', '.join(MODES)}")
        self.mode = mode
        self.client_id = client_id
        self.client_secret = client_secret
        self.username = username
        self.password = password
        self.token_ttl = token_ttl
        self.csrf_header = csrf_header
        self.session_max_age = session_max_age
        self.session_max_requests = session_max_requests
        self._count = count
        self._tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self._sessions: dict[str, _Session] = {}
        # Every token, session id and CSRF token ever handed out (expired ones included), so
        # that leak tests can search output for them; read through issued_credentials().
        self._issued: set[str] = set()
        self._lock = threading.Lock()

    def issued_credentials(self) -> frozenset[str]:
        """Every bearer token, session cookie value and CSRF token issued so far (a copy)."""
        with self._lock:
            return frozenset(self._issued)

    # ------------------------------------------------------------ routing helpers

    def auth_paths(self) -> tuple[str, ...]:
        return {
            "saas": (SAAS_TOKEN_PATH,),
            "identity": (IDENTITY_TOKEN_PATH,),
            "cookie": (LOGIN_PATH, LOGOUT_PATH),
        }.get(self.mode, ())

    def handle(
        self, path: str, method: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response:
        if method != "POST":
            return json_response(405, {"error": "method_not_allowed"})
        if path == SAAS_TOKEN_PATH:
            return self._saas_token(headers, body)
        if path == IDENTITY_TOKEN_PATH:
            return self._identity_token(headers, body)
        if path == LOGIN_PATH:
            return self._login(query, headers, body)
        return self._logout(headers)

    # ------------------------------------------------------------ tokens

    def _issue(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + self.token_ttl
            self._issued.add(token)
        self._count("tokens_issued")
        return token

    def _saas_token(self, headers: dict[str, str], body: bytes) -> Response:
        ctype = headers.get("content-type", "")
        try:
            params = orjson.loads(body) if "json" in ctype else _form(body)
        except orjson.JSONDecodeError:
            params = None
        if not isinstance(params, dict):
            self._count("token_failures")
            return json_response(
                400, {"error": "invalid_request", "error_description": "Malformed body"}
            )
        if params.get("grant_type") != "client_credentials":
            self._count("token_failures")
            return json_response(
                403,
                {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"},
            )
        if not (
            _same(params.get("client_id"), self.client_id)
            and _same(params.get("client_secret"), self.client_secret)
        ):
            self._count("token_failures")
            return json_response(
                401, {"error": "access_denied", "error_description": "Unauthorized"}
            )
        if params.get("audience") != SAAS_AUDIENCE:
            self._count("token_failures")
            return json_response(
                401, {"error": "access_denied", "error_description": "Service not found: audience"}
            )
        token = self._issue()
        return json_response(
            200,
            {
                "access_token": token,
                "scope": "Operate",
                "expires_in": self.token_ttl,
                "token_type": "Bearer",
            },
        )

    def _identity_token(self, headers: dict[str, str], body: bytes) -> Response:
        if "application/x-www-form-urlencoded" not in headers.get("content-type", ""):
            # Keycloak reads form parameters only; a JSON body has no grant_type for it.
            self._count("token_failures")
            return json_response(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "Missing form parameter: grant_type",
                },
            )
        params = _form(body)
        if params.get("grant_type") != "client_credentials":
            self._count("token_failures")
            return json_response(
                400,
                {"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"},
            )
        if not (
            _same(params.get("client_id"), self.client_id)
            and _same(params.get("client_secret"), self.client_secret)
        ):
            self._count("token_failures")
            return json_response(
                401,
                {
                    "error": "unauthorized_client",
                    "error_description": "Invalid client or Invalid client credentials",
                },
            )
        if params.get("audience") not in (None, IDENTITY_AUDIENCE):
            self._count("token_failures")
            return json_response(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "Requested audience not available",
                },
            )
        token = self._issue()
        return json_response(
            200,
            {
                "access_token": token,
                "expires_in": self.token_ttl,
                "refresh_expires_in": 0,
                "token_type": "Bearer",
                "not-before-policy": 0,
                "scope": "email profile",
            },
        )

    def _check_bearer(self, headers: dict[str, str]) -> Response | None:
        value = headers.get("authorization", "")
        if not value.lower().startswith("bearer "):
            return unauthorized("Full authentication is required to access this resource")
        token = value[7:].strip()
        with self._lock:
            expiry = self._tokens.get(token)
        if expiry is None:
            return unauthorized(
                "An error occurred while attempting to decode the Jwt: Invalid token"
            )
        if expiry <= time.monotonic():
            return unauthorized("Jwt expired")
        return None

    # ------------------------------------------------------------ cookie sessions

    def _login(self, query: str, headers: dict[str, str], body: bytes) -> Response:
        params = _form(query.encode())
        if "application/x-www-form-urlencoded" in headers.get("content-type", ""):
            params.update(_form(body))
        if not (
            _same(params.get("username"), self.username)
            and _same(params.get("password"), self.password)
        ):
            self._count("login_failures")
            return unauthorized("User name not found or password incorrect")
        session_id = secrets.token_hex(16).upper()
        csrf = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[session_id] = _Session(csrf=csrf, created=time.monotonic())
            self._issued.update((session_id, csrf))
        self._count("logins")
        return Response(
            204,
            b"",
            None,
            [
                ("Set-Cookie", f"{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Lax"),
                ("Set-Cookie", f"{self.csrf_header}={csrf}; Path=/; HttpOnly; SameSite=Lax"),
                (self.csrf_header, csrf),
            ],
        )

    def _session_id(self, headers: dict[str, str]) -> str | None:
        raw = headers.get("cookie")
        if not raw:
            return None
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            return None
        morsel = jar.get(SESSION_COOKIE)
        return morsel.value if morsel else None

    def _logout(self, headers: dict[str, str]) -> Response:
        session_id = self._session_id(headers)
        with self._lock:
            if session_id:
                self._sessions.pop(session_id, None)
        self._count("logouts")
        expired = "Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        return Response(
            204,
            b"",
            None,
            [
                ("Set-Cookie", f"{SESSION_COOKIE}=; {expired}"),
                ("Set-Cookie", f"{self.csrf_header}=; {expired}"),
            ],
        )

    def _check_session(
        self, method: str, headers: dict[str, str]
    ) -> tuple[Response | None, list[tuple[str, str]]]:
        session_id = self._session_id(headers)
        if not session_id:
            return unauthorized("Full authentication is required to access this resource"), []
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return unauthorized("Session is not valid"), []
            age = time.monotonic() - session.created
            session.requests += 1
            too_old = self.session_max_age is not None and age > self.session_max_age
            too_many = (
                self.session_max_requests is not None
                and session.requests > self.session_max_requests
            )
            if too_old or too_many:
                # Operate invalidates the session on authentication errors.
                del self._sessions[session_id]
                return unauthorized("Session expired"), []
            csrf = session.csrf
        if method not in SAFE_METHODS and not _same(headers.get(self.csrf_header.lower()), csrf):
            self._count("csrf_rejections")
            return problem(403, "Invalid CSRF token", "AccessDeniedException"), []
        return None, [(self.csrf_header, csrf)]

    # ------------------------------------------------------------ basic

    def _check_basic(self, headers: dict[str, str]) -> Response | None:
        challenge = [("WWW-Authenticate", 'Basic realm="Realm"')]
        value = headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return unauthorized(
                "Full authentication is required to access this resource", challenge
            )
        try:
            decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return unauthorized("Invalid basic authentication token", challenge)
        user, _, password = decoded.partition(":")
        if not (_same(user, self.username) and _same(password, self.password)):
            return unauthorized("Bad credentials", challenge)
        return None

    # ------------------------------------------------------------ API gate

    def check_api(
        self, method: str, headers: dict[str, str]
    ) -> tuple[Response | None, list[tuple[str, str]]]:
        """-> (error response or None, extra headers for the successful response)."""
        if self.mode == "none":
            return None, []
        if self.mode in ("saas", "identity"):
            return self._check_bearer(headers), []
        if self.mode == "basic":
            return self._check_basic(headers), []
        return self._check_session(method, headers)
