"""Issue 11 point 1: a server that echoes the request back cannot make the tool print a secret.

A hostile loopback server echoes the whole request (request line, every header, the body) in
its error answers, through every status class (400, 401, 403, 404, 429, 500, 502, 503, 504 and
a garbage 200), in every shape a server or proxy uses (problem+json ``message``, OAuth
``error``/``error_description`` with the echo JSON-escaped, v2 ``detail`` URL-encoded, an HTML
page, plain text). It does so on the token endpoint (saas, identity), on the login (cookie) and
on the API calls that carry the Basic header, the bearer token, the session cookie and the CSRF
token. The real CLI runs as a subprocess with the secrets in environment variables; stdout,
stderr and every file under the output directory (``_INCOMPLETE`` included) are searched for
every secret in every spelling (verbatim, URL/form-encoded, JSON-escaped, HTML-escaped, base64).
The same answers are also raised in-process and ``str``/``repr`` of each exception and
everything chained to it are searched.
"""

from __future__ import annotations

import base64
import html
import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from exporter.api.probe import choose_api
from exporter.errors import ExporterError
from exporter.spec import AuthSpec, RetrySpec, SourceSpec
from exporter.transport.client import ApiClient
from tests.hostile_server import HostileServer, Request, Wire
from tests.secrets_util import exception_texts

REPO = Path(__file__).resolve().parent.parent
MakeServer = Callable[[dict[str, Any]], HostileServer]

# Distinctive values with characters that every encoding changes (/ + & " space, non-ASCII).
CLIENT_SECRET = 'S3CR3T/cl+ent&"sec ret"-ü-9f2c'
PASSWORD = 'P4SS/w+rd&"pa ss"-é-7d1e'
USERNAME = "export-user"
TOKEN = "TOK3N-bearer-8c1f0e2d"
SESSION = "SESS10N-cookie-5a9b3c7d"
CSRF = "CSRF-t0ken-4e6f1a2b"
BASIC_VALUE = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
SECRETS = [CLIENT_SECRET, PASSWORD, TOKEN, SESSION, CSRF, BASIC_VALUE]

STATUSES = [400, 401, 403, 404, 429, 500, 502, 503, 504, 200]
SHAPES = ["message", "oauth", "detail", "html", "text"]
MODES = ["saas", "identity", "cookie", "basic"]
TOKEN_PATH = "/oauth/token"
V1_SEARCHES = [
    "/v1/process-definitions/search",
    "/v1/process-instances/search",
    "/v1/incidents/search",
    "/v1/flownode-instances/search",
    "/v1/variables/search",
    "/v1/decision-definitions/search",
    "/v1/drd/search",
    "/v1/decision-instances/search",
]
ENDPOINTS = [
    "process-definitions",
    "process-instances",
    "incidents",
    "flownode-instances",
    "variables",
    "decision-definitions",
    "decision-requirements",
    "decision-instances",
]


def spellings(secret: str) -> set[str]:
    """Every way the tool could print a secret it got echoed (independent of exporter code)."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        base64.b64encode(secret.encode()).decode().rstrip("="),
    }
    return {form for form in forms if len(form) >= 6}


def leaks(text: str) -> list[str]:
    found = []
    for secret in SECRETS:
        for form in spellings(secret):
            if form in text:
                found.append(f"{secret[:6]}... as {form[:8]}...")
    return found


def echo_text(request: Request) -> str:
    """The request as an echoing proxy shows it: credentials first (a 300-character error
    excerpt must still contain them), then the body, then the other headers."""
    sensitive = ("authorization", "cookie", "x-csrf-token")
    first = [f"{k}: {v}" for k, v in request.headers.items() if k.lower() in sensitive]
    rest = [f"{k}: {v}" for k, v in request.headers.items() if k.lower() not in sensitive]
    body = request.body.decode("utf-8", "replace")
    return "\n".join([*first, body, f"{request.method} {request.path} HTTP/1.1", *rest])


def echo(status: int, shape: str) -> Callable[[Request, Wire], None]:
    """A behaviour answering ``status`` with the echoed request in ``shape``."""

    def behaviour(request: Request, wire: Wire) -> None:
        text = echo_text(request)
        if status == 200 or shape == "text":  # garbage where JSON was expected
            wire.respond(status, f"echo: {text}".encode(), {"Content-Type": "text/plain"})
        elif shape == "html":  # an error page, no Location header
            page = f"<html><body><h1>Error</h1><pre>{html.escape(text)}</pre>{text}</body></html>"
            wire.respond(status, page.encode(), {"Content-Type": "text/html"})
        elif shape == "oauth":
            description = json.dumps(text)  # the echo JSON-escaped once more
            wire.respond_json(status, {"error": text, "error_description": description})
        elif shape == "detail":
            wire.respond_json(status, {"title": "Echo", "detail": quote(text), "instance": text})
        else:
            wire.respond_json(status, {"message": text, "instance": quote_plus(text)})

    return behaviour


def issue_token(request: Request, wire: Wire) -> None:
    wire.respond_json(200, {"access_token": TOKEN, "expires_in": 300, "token_type": "Bearer"})


def log_in(request: Request, wire: Wire) -> None:
    headers = {"Set-Cookie": f"OPERATE-SESSION={SESSION}; Path=/", "X-CSRF-TOKEN": CSRF}
    wire.respond(204, b"", headers)


def no_content(request: Request, wire: Wire) -> None:
    wire.respond(204, b"")


def auth_routes(mode: str) -> dict[str, Any]:
    if mode in ("saas", "identity"):
        return {TOKEN_PATH: issue_token}
    if mode == "cookie":
        return {"/api/login": log_in, "/api/logout": no_content}
    return {}


def auth_yaml(server: HostileServer, mode: str) -> str:
    if mode in ("saas", "identity"):
        return (
            f'{{mode: {mode}, client_id: export-client, client_secret: "${{ECHO_SECRET}}", '
            f'token_url: "{server.base_url}{TOKEN_PATH}", token_request_format: form}}'
        )
    return f'{{mode: {mode}, username: {USERNAME}, password: "${{ECHO_PASSWORD}}"}}'


def write_spec(tmp: Path, server: HostileServer, mode: str, endpoints: list[str], api: str) -> Path:
    exports = "\n".join(f"  - {{endpoint: {e}, name: e{i}}}" for i, e in enumerate(endpoints))
    spec = tmp / "spec.yaml"
    spec.write_text(
        f"""version: 1
source:
  base_url: "{server.base_url}"
  api: {api}
  auth: {auth_yaml(server, mode)}
  retry: {{max_attempts: 2, initial_backoff_seconds: 0.01, max_backoff_seconds: 0.01}}
  timeout_seconds: 5
concurrency: 8
exports:
{exports}
output: {{format: jsonl, schema: native, path: "{tmp / "out"}"}}
"""
    )
    return spec


def run_cli(spec: Path, *options: str) -> tuple[int, str]:
    env = {**os.environ, "ECHO_SECRET": CLIENT_SECRET, "ECHO_PASSWORD": PASSWORD}
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "run", str(spec), *options],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=90,
        check=False,
    )
    return proc.returncode, proc.stdout.decode() + "\n" + proc.stderr.decode()


def written(root: Path) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
    return {str(p): p.read_bytes().decode("utf-8", "replace") for p in files}


def assert_clean(where: str, code: int, printed: str, out: Path, served: HostileServer) -> None:
    """Exit 1, the echo really happened (the server saw the secrets), nothing leaked."""
    assert code == 1, f"{where}: exit {code}\n{printed}"
    seen = "\n".join(echo_text(r) for r in served.requests)
    assert leaks(seen), f"{where}: the server never saw a secret, the test proves nothing"
    assert not leaks(printed), f"{where}: stdout/stderr leak {leaks(printed)}\n{printed}"
    files = written(out)
    assert any(name.endswith("_INCOMPLETE") for name in files) or not files
    for name, text in files.items():
        assert not leaks(text), f"{where}: {name} leaks {leaks(text)}"


def test_the_scanner_sees_every_spelling() -> None:
    for secret in SECRETS:
        for form in spellings(secret):
            assert leaks(f"x {form} y"), form
    assert leaks(json.dumps({"m": f"p={quote_plus(PASSWORD)}"}))
    assert not leaks("nothing here: S3CR3T/cl+ent-9f2c")


@pytest.mark.parametrize("mode", ["saas", "identity", "cookie"])
def test_credential_endpoint_echo_through_every_status(
    hostile_server: MakeServer, tmp_path: Path, mode: str
) -> None:
    """The token request / login echoed back (secret in a form body) in every status class."""
    path = TOKEN_PATH if mode != "cookie" else "/api/login"

    def one(index: int) -> None:
        status, shape = STATUSES[index], SHAPES[index % len(SHAPES)]
        server = hostile_server({path: echo(status, shape), "/api/logout": no_content})
        tmp = tmp_path / str(status)
        tmp.mkdir()
        spec = write_spec(tmp, server, mode, ["incidents"], "v1")
        options = ("--log-format", "json") if index % 2 else ()
        code, printed = run_cli(spec, *options)
        assert_clean(f"{mode} {status} {shape}", code, printed, tmp / "out", server)
        assert "authentication" in printed  # the failure is named, just without secrets

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(one, range(len(STATUSES))))


@pytest.mark.parametrize("mode", MODES)
def test_api_echo_of_bearer_basic_cookie_and_csrf_through_every_status(
    hostile_server: MakeServer, tmp_path: Path, mode: str
) -> None:
    """Every search answers a different status with the echo of the request that carried the
    bearer token, the Basic header or the session cookie and CSRF token."""
    halves = [list(range(0, 5)), list(range(5, 10))]

    def one(half: list[int]) -> None:
        routes = auth_routes(mode)
        for slot, index in enumerate(half):
            routes[V1_SEARCHES[slot]] = echo(STATUSES[index], SHAPES[(index + slot) % 5])
        server = hostile_server(routes)
        tmp = tmp_path / f"half{half[0]}"
        tmp.mkdir()
        spec = write_spec(tmp, server, mode, ENDPOINTS[: len(half)], "v1")
        code, printed = run_cli(spec, *(("--log-format", "json") if half[0] else ()))
        assert_clean(f"{mode} {[STATUSES[i] for i in half]}", code, printed, tmp / "out", server)
        assert printed.count("failed") >= len(half)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, halves))


def test_probe_echo_is_scrubbed(hostile_server: MakeServer, tmp_path: Path) -> None:
    """api: auto probes v2 first; an echoing 403 and a 503 after retries stay clean."""
    for status in (403, 503):
        server = hostile_server({"/v2/process-definitions/search": echo(status, "message")})
        tmp = tmp_path / str(status)
        tmp.mkdir()
        code, printed = run_cli(write_spec(tmp, server, "basic", ["incidents"], "auto"))
        assert_clean(f"probe {status}", code, printed, tmp / "out", server)
        assert "api auto" in printed or "v2/process-definitions" in printed


def source_for(server: HostileServer, mode: str) -> SourceSpec:
    if mode in ("saas", "identity"):
        auth = AuthSpec(
            mode=mode,
            client_id="export-client",
            client_secret=CLIENT_SECRET,
            token_url=f"{server.base_url}{TOKEN_PATH}",
            token_request_format="form" if mode == "saas" else "json",
        )
    else:
        auth = AuthSpec(mode=mode, username=USERNAME, password=PASSWORD)
    retry = RetrySpec(max_attempts=2, initial_backoff_seconds=0.0, max_backoff_seconds=0.0)
    return SourceSpec(base_url=server.base_url, auth=auth, api="v1", retry=retry)


@pytest.mark.parametrize("mode", MODES)
def test_exception_text_and_chain_are_clean(hostile_server: MakeServer, mode: str) -> None:
    """In-process: every error raised for an echo (API, token, login, probe), its repr, its
    attributes and everything chained to it."""
    texts: list[str] = []
    for index, status in enumerate(STATUSES):
        shape = SHAPES[index % len(SHAPES)]
        routes = auth_routes(mode)
        routes[V1_SEARCHES[0]] = echo(status, shape)
        routes["/v2/process-definitions/search"] = echo(status, shape)
        credential = {"saas": TOKEN_PATH, "identity": TOKEN_PATH, "cookie": "/api/login"}
        failing_login = hostile_server({credential.get(mode, "/x"): echo(status, shape)})
        for server, call in (
            (hostile_server(routes), "search"),
            (hostile_server(routes), "probe"),
            (failing_login, "login"),
        ):
            if call == "login" and mode == "basic":
                continue
            base = server if call != "login" else failing_login
            client = ApiClient(source_for(base, mode))
            with pytest.raises(ExporterError) as raised:
                if call == "probe":
                    choose_api(client)
                else:
                    client.post_json(V1_SEARCHES[0], {"size": 1})
            error = raised.value
            texts.append(exception_texts(error))
            texts += [str(v) for v in vars(error).values()]
            client.close()
    everything = "\n".join(texts)
    assert "server says" in everything  # server messages do get through, scrubbed
    assert not leaks(everything), leaks(everything)
