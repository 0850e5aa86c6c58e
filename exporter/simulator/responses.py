"""Response value objects and Operate's error shapes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(status: int, data: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, orjson.dumps(data), "application/json", headers or [])


def problem(status: int, message: str, type_: str) -> Response:
    """Operate's controller-advice error: problem+json {status, message, instance, type}."""
    body = {"status": status, "message": message, "instance": str(uuid.uuid4()), "type": type_}
    return Response(status, orjson.dumps(body), "application/problem+json")


def v2_problem(status: int, title: str, detail: str, instance: str) -> Response:
    """RFC 9457 problem details, as the Orchestration Cluster API sends them; ``instance`` is
    the request path (Spring's ``ProblemDetail`` default)."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    return Response(status, orjson.dumps(body), "application/problem+json")


def unauthorized(message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    """The security layer's 401 on /v1: plain JSON {"message": ...}, never a redirect."""
    return json_response(401, {"message": message}, headers)


LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Operate - Login</title></head><body>"
    b'<form method="post" action="/api/login"><input name="username"/>'
    b'<input name="password" type="password"/><button>Log in</button></form></body></html>'
)
