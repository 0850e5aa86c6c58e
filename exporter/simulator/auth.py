"""The five auth modes: none, saas (OAuth token), identity (Keycloak token), cookie, basic.

Access tokens are JWTs (HS256 with a key made per simulator) carrying ``iss``, ``sub`` (the
client id), ``aud``, ``iat`` and ``exp``, as SaaS and Keycloak issue them; they really expire
after the token TTL. A token is bound to its audience, and the audience must fit the API it is
used on: SaaS issues ``operate.camunda.io`` tokens for the Operate v1 API and
``zeebe.camunda.io`` tokens for the Orchestration Cluster (v2) API; Identity (Keycloak) issues
``operate-api`` (the documented Operate audience, also the default when none is asked for) and
``orchestration-api`` tokens for both APIs, since from 8.8 one application serves /v1 and /v2
and checks one audience list, and ``zeebe-api`` tokens for v2 only. Session ids are random.

Rejections take the shape of the API they guard: v1's ``{"message": ...}`` or v2's RFC 9457
problem details; bearer 401s carry ``WWW-Authenticate: Bearer`` (with ``error="invalid_token"``
for a bad, expired or wrong-audience token), basic 401s ``WWW-Authenticate: Basic``.
Nothing here ever puts a credential, token or cookie value into a message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

import orjson

from exporter.simulator.responses import (
    Response,
    json_response,
    problem,
    unauthorized,
    v2_problem,
)

MODES = ("none", "saas", "identity", "cookie", "basic")
SAAS_TOKEN_PATH = "/oauth/token"
IDENTITY_TOKEN_PATH = "/auth/realms/camunda-platform/protocol/openid-connect/token"
LOGIN_PATH = "/api/login"
LOGOUT_PATH = "/api/logout"
SESSION_COOKIE = "OPERATE-SESSION"
SAAS_AUDIENCE = "operate.camunda.io"
SAAS_AUDIENCE_V2 = "zeebe.camunda.io"
IDENTITY_AUDIENCE = "operate-api"
# Audience -> the APIs its tokens open, per mode (module docstring).
AUDIENCES: dict[str, dict[str, tuple[str, ...]]] = {
    "saas": {SAAS_AUDIENCE: ("v1",), SAAS_AUDIENCE_V2: ("v2",)},
    "identity": {
        IDENTITY_AUDIENCE: ("v1", "v2"),
        "orchestration-api": ("v1", "v2"),
        "zeebe-api": ("v2",),
    },
}
ISSUERS = {
    "saas": "https://weblogin.cloud.camunda.io/",
    "identity": "http://localhost:18080/auth/realms/camunda-platform",
}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


@dataclass(frozen=True)
class Denied:
    """Why an API request is refused; ``Authenticator.check_api`` shapes it for its API."""

    status: int
    detail: str
    headers: tuple[tuple[str, str], ...] = ()
    v1_type: str = ""  # v1 problem type for 403s (401s use the plain {"message"} body)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _bearer_challenge(description: str | None) -> tuple[tuple[str, str], ...]:
    if description is None:
        return (("WWW-Authenticate", "Bearer"),)
    value = f'Bearer error="invalid_token", error_description="{description}"'
    return (("WWW-Authenticate", value),)


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
        self._signing_key = secrets.token_bytes(32)
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

    def _issue(self, audience: str) -> str:
        now = time.time()
        header = {"alg": "HS256", "typ": "JWT", "kid": "simulator"}
        claims = {
            "iss": ISSUERS[self.mode],
            "sub": self.client_id,
            "aud": audience,
            "azp": self.client_id,
            "iat": int(now),
            "exp": int(now) + self.token_ttl,
            "jti": secrets.token_urlsafe(12),
        }
        signing_input = f"{_b64url(orjson.dumps(header))}.{_b64url(orjson.dumps(claims))}"
        digest = hmac.new(self._signing_key, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{_b64url(digest)}"
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
        audience = params.get("audience")
        if audience not in AUDIENCES["saas"]:
            self._count("token_failures")
            return json_response(
                401, {"error": "access_denied", "error_description": "Service not found: audience"}
            )
        token = self._issue(audience)
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
        audience = params.get("audience") or IDENTITY_AUDIENCE
        if audience not in AUDIENCES["identity"]:
            self._count("token_failures")
            return json_response(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "Requested audience not available",
                },
            )
        token = self._issue(audience)
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

    def _token_claims(self, token: str) -> dict | None:
        """The claims of a token this simulator signed, or None (forged, garbled)."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        signing_input = f"{parts[0]}.{parts[1]}".encode()
        expected = hmac.new(self._signing_key, signing_input, hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(_b64url_decode(parts[2]), expected):
                return None
            claims = orjson.loads(_b64url_decode(parts[1]))
        except (ValueError, binascii.Error):
            return None
        return claims if isinstance(claims, dict) else None

    def _check_bearer(self, headers: dict[str, str], api: str) -> Denied | None:
        value = headers.get("authorization", "")
        if not value.lower().startswith("bearer "):
            message = "Full authentication is required to access this resource"
            return Denied(401, message, _bearer_challenge(None))
        token = value[7:].strip()
        claims = self._token_claims(token)
        with self._lock:
            expiry = self._tokens.get(token)
        if claims is None or expiry is None:
            message = "An error occurred while attempting to decode the Jwt: Invalid token"
            return Denied(401, message, _bearer_challenge("Invalid token"))
        if expiry <= time.monotonic():
            return Denied(401, "Jwt expired", _bearer_challenge("Jwt expired"))
        audience = claims.get("aud")
        if not isinstance(audience, str) or api not in AUDIENCES[self.mode].get(audience, ()):
            message = "The required audience is missing"
            return Denied(401, message, _bearer_challenge(message))
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
    ) -> tuple[Denied | None, list[tuple[str, str]]]:
        session_id = self._session_id(headers)
        if not session_id:
            return Denied(401, "Full authentication is required to access this resource"), []
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return Denied(401, "Session is not valid"), []
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
                return Denied(401, "Session expired"), []
            csrf = session.csrf
        if method not in SAFE_METHODS and not _same(headers.get(self.csrf_header.lower()), csrf):
            self._count("csrf_rejections")
            return Denied(403, "Invalid CSRF token", v1_type="AccessDeniedException"), []
        return None, [(self.csrf_header, csrf)]

    # ------------------------------------------------------------ basic

    def _check_basic(self, headers: dict[str, str]) -> Denied | None:
        challenge = (("WWW-Authenticate", 'Basic realm="Realm"'),)
        value = headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return Denied(401, "Full authentication is required to access this resource", challenge)
        try:
            decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return Denied(401, "Invalid basic authentication token", challenge)
        user, _, password = decoded.partition(":")
        if not (_same(user, self.username) and _same(password, self.password)):
            return Denied(401, "Bad credentials", challenge)
        return None

    # ------------------------------------------------------------ API gate

    def check_api(
        self, method: str, headers: dict[str, str], api: str = "v1", path: str = ""
    ) -> tuple[Response | None, list[tuple[str, str]]]:
        """-> (error response or None, extra headers for the successful response).

        ``api`` ("v1" or "v2") picks the audience a token must have and the error shape.
        """
        extra: list[tuple[str, str]] = []
        denied: Denied | None = None
        if self.mode in ("saas", "identity"):
            denied = self._check_bearer(headers, api)
        elif self.mode == "basic":
            denied = self._check_basic(headers)
        elif self.mode == "cookie":
            denied, extra = self._check_session(method, headers)
        if denied is None:
            return None, extra
        return _shape(denied, api, path), []


def _shape(denied: Denied, api: str, path: str) -> Response:
    """A refusal as the guarded API sends it (v1: Operate's bodies; v2: problem details)."""
    if api == "v2":
        title = "Unauthorized" if denied.status == 401 else "Forbidden"
        response = v2_problem(denied.status, title, denied.detail, path)
    elif denied.status == 401:
        response = unauthorized(denied.detail)
    else:
        response = problem(denied.status, denied.detail, denied.v1_type)
    response.headers.extend(denied.headers)
    return response
