"""Classify-then-retry: the ONE place that decides whether an HTTP outcome is retriable.

Every request the tool makes (API searches, get-by-key, XML, token and login requests) ends in a
``Verdict`` produced here:

    OK             the body is what was expected (parsed JSON, well-formed text, or nothing)
    RETRY          429, 500, 502, 503, 504, connection errors, timeouts, truncated or non-JSON
                   bodies, an HTML page where JSON/XML was expected
    UNAUTHORIZED   401: the caller may re-authenticate once
    FATAL          any other status, TLS verification failures, unusable URLs

Status codes are listed nowhere else. Messages are built here from fixed phrases, status codes and
exception *class names*, never from exception text (which can embed URLs) or request data.
Backoff math is a pure function so it can be unit-tested without sleeping.
"""

from __future__ import annotations

import email.utils
import enum
import random
import re
import time
import xml.parsers.expat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import requests

from exporter.errors import redact_secrets

RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
UNAUTHORIZED_STATUS = 401
# Longest server-provided text kept in an error message.
MAX_SERVER_TEXT = 300


class DeadlineExceeded(requests.exceptions.Timeout):
    """The whole request (connect, headers, body) outlasted
    ``source.limits.request_deadline_seconds``. Retriable like a timeout: a slow moment passes."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"request deadline of {seconds:g} s exceeded")
        self.seconds = seconds


class ResponseRefused(requests.exceptions.RequestException):
    """An answer refused for what it is (over a size limit, an encoding we did not ask for):
    deterministic, so never retried. ``what`` is built from fixed phrases and numbers only."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Expect(enum.Enum):
    """What a successful body must look like."""

    JSON = "json"
    # A v1 search page for a sink that decodes the items itself: its cursor is read from the
    # tail (exporter.api.rawpage) and the items are parsed only when the tail is ambiguous.
    JSON_PAGE = "json-page"
    TEXT = "text"  # XML endpoints: well-formed markup
    NOTHING = "nothing"  # login/logout: status is all that matters


class Kind(enum.Enum):
    OK = "ok"
    RETRY = "retry"
    UNAUTHORIZED = "unauthorized"
    FATAL = "fatal"


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    reason: str  # short, secret-free description ("HTTP 503", "connection reset", ...)
    status: int | None = None
    value: Any = None  # parsed JSON / text on OK
    retry_after: float | None = None  # server hint in seconds (None = no hint)
    server_message: str | None = None  # problem+json `message`, OAuth `error_description`, ...
    instance: str | None = None  # problem+json `instance`


def classify_response(
    status: int, headers: Mapping[str, str], body: bytes, expect: Expect
) -> Verdict:
    """Decide what an HTTP answer means. ``headers`` must be case-insensitive (requests')."""
    if 200 <= status < 300:
        return _classify_success(status, headers, body, expect)
    message, instance = server_reason(body)
    if status == UNAUTHORIZED_STATUS:
        return Verdict(Kind.UNAUTHORIZED, "HTTP 401", status, server_message=message)
    if status in RETRIABLE_STATUSES:
        return Verdict(
            Kind.RETRY,
            f"HTTP {status}",
            status,
            retry_after=parse_retry_after(headers.get("Retry-After")),
            server_message=message,
            instance=instance,
        )
    if 300 <= status < 400:
        # Redirects are not followed: an API that redirects is pointing at a login page or a
        # different base URL, which retrying cannot fix.
        return Verdict(Kind.FATAL, f"HTTP {status} redirect (not followed)", status)
    return Verdict(Kind.FATAL, f"HTTP {status}", status, server_message=message, instance=instance)


def _classify_success(
    status: int, headers: Mapping[str, str], body: bytes, expect: Expect
) -> Verdict:
    content_type = headers.get("Content-Type", "").lower()
    if "html" in content_type or _looks_like_html(body):
        # Proxies and SSO gateways answer with a login or error page and status 200; so does a
        # login endpoint that did not take the request (it answers 204 when it does).
        return Verdict(Kind.RETRY, "HTML page where data was expected", status)
    if expect is Expect.NOTHING:
        return Verdict(Kind.OK, f"HTTP {status}", status)
    if not body:
        return Verdict(Kind.RETRY, "empty body", status)
    if expect is Expect.JSON_PAGE:
        from exporter.api.rawpage import read_page

        try:
            return Verdict(Kind.OK, f"HTTP {status}", status, value=read_page(body))
        except orjson.JSONDecodeError:
            return Verdict(Kind.RETRY, "truncated or non-JSON body", status)
    if expect is Expect.JSON:
        try:
            return Verdict(Kind.OK, f"HTTP {status}", status, value=orjson.loads(body))
        except orjson.JSONDecodeError:
            return Verdict(Kind.RETRY, "truncated or non-JSON body", status)
    text = body.decode(_charset(content_type), errors="replace")
    if not _well_formed_xml(body):
        return Verdict(Kind.RETRY, "truncated or malformed XML body", status)
    return Verdict(Kind.OK, f"HTTP {status}", status, value=text)


def classify_exception(exc: BaseException, timeout_seconds: float | None = None) -> Verdict:
    """Network-level failures. Only the exception's class name goes into the reason (or, for
    the tool's own limit errors, their fixed-phrase description)."""
    if isinstance(exc, DeadlineExceeded):
        return Verdict(
            Kind.RETRY,
            f"request deadline exceeded ({exc.seconds:g} s for connect, headers and body; "
            "source.limits.request_deadline_seconds)",
        )
    if isinstance(exc, ResponseRefused):
        return Verdict(Kind.FATAL, exc.what)
    if isinstance(exc, requests.exceptions.SSLError):
        detail = _tls_detail(exc)
        return Verdict(Kind.FATAL, f"TLS error: {detail}")
    if isinstance(exc, requests.exceptions.Timeout):
        limit = f" after {timeout_seconds:g} s" if timeout_seconds is not None else ""
        which = "connect" if isinstance(exc, requests.exceptions.ConnectTimeout) else "read"
        return Verdict(Kind.RETRY, f"{which} timeout{limit}")
    if isinstance(
        exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    ):
        return Verdict(Kind.RETRY, f"response body cut off ({_root_cause_name(exc)})")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return Verdict(Kind.RETRY, f"connection failed ({_root_cause_name(exc)})")
    if isinstance(
        exc,
        requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema,
    ):
        return Verdict(Kind.FATAL, f"unusable URL ({type(exc).__name__})")
    if isinstance(exc, requests.exceptions.RequestException | OSError):
        return Verdict(Kind.RETRY, f"request failed ({_root_cause_name(exc)})")
    return Verdict(Kind.FATAL, f"unexpected error ({type(exc).__name__})")


def server_reason(body: bytes) -> tuple[str | None, str | None]:
    """The server's explanation from an error body: (message, instance).

    Understands Operate problem+json (``message``, ``instance``), the security layer's
    ``{"message": ...}``, v2 problem details (``detail``/``title``) and OAuth errors
    (``error``/``error_description``). Non-JSON bodies give no message (they are often HTML).
    """
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    message: str | None = None
    if isinstance(data.get("error"), str):
        description = data.get("error_description")
        message = data["error"] + (f": {description}" if isinstance(description, str) else "")
    detail, title = data.get("detail"), data.get("title")
    if message is None and isinstance(data.get("message"), str) and data["message"]:
        message = data["message"]
    if message is None and isinstance(detail, str) and detail:
        # v2 problem details: the title is the error class (INVALID_ARGUMENT,
        # RESOURCE_EXHAUSTED), the detail what was wrong; the user needs both.
        named = isinstance(title, str) and title and title not in detail
        message = f"{title}: {detail}" if named else detail
    if message is None and isinstance(title, str) and title:
        message = title
    instance = data.get("instance")
    # Scrubbed before shortening, so that a cut can never leave part of a secret behind.
    return (
        _shorten(redact_secrets(message)) if message else None,
        _shorten(redact_secrets(str(instance))) if instance is not None else None,
    )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or HTTP-date); 0, past or junk -> None.

    Delta-seconds are digits only (RFC 9110), so ``inf``, ``1e999``, ``-5`` or ``1_000`` are junk,
    not a wait. A far-future value is returned as it is: ``backoff_delay`` caps it at
    ``max_backoff_seconds``.
    """
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not 0 < seconds < float("inf"):  # NaN, zero, in the past, overflow: no usable hint
        return None
    return seconds


_DELTA_SECONDS = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,6})?")


def backoff_delay(
    retry_number: int,
    *,
    initial: float,
    maximum: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Wait before retry ``retry_number`` (0 for the first retry).

    Full jitter: uniform(0, min(maximum, initial * 2**n)), so that many clients hit by the same
    outage do not come back in lockstep. A server ``Retry-After`` wins, capped at ``maximum``.
    """
    if retry_after is not None:
        return min(maximum, retry_after)
    ceiling = min(maximum, initial * (2 ** min(retry_number, 62)))
    return (rng or random).uniform(0.0, ceiling)


def _looks_like_html(body: bytes) -> bool:
    head = body[:256].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _well_formed_xml(body: bytes) -> bool:
    parser = xml.parsers.expat.ParserCreate()
    try:
        parser.Parse(body, True)
    except xml.parsers.expat.ExpatError:
        return False
    return True


def _charset(content_type: str) -> str:
    match = re.search(r"charset=([\w.-]+)", content_type)
    return match.group(1) if match else "utf-8"


def _root_cause_name(exc: BaseException) -> str:
    """Innermost meaningful exception class name, e.g. ConnectionResetError, IncompleteRead."""
    seen: set[int] = set()
    current: BaseException | None = exc
    name = type(exc).__name__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        nested = getattr(current, "reason", None)
        if not isinstance(nested, BaseException):
            nested = next((a for a in current.args if isinstance(a, BaseException)), None)
        if nested is None:
            nested = current.__cause__ or current.__context__
        current = nested
    return name


_TLS_REASONS = (
    ("self-signed", "certificate verification failed (self-signed certificate)"),
    ("unable to get local issuer", "certificate verification failed (unknown issuer)"),
    ("certificate verify failed", "certificate verification failed"),
    ("hostname mismatch", "certificate does not match the host name"),
    ("wrong version number", "server does not speak TLS on this port"),
)


def _tls_detail(exc: BaseException) -> str:
    text = repr(exc).lower()
    for needle, phrase in _TLS_REASONS:
        if needle in text:
            return phrase
    return f"handshake failed ({_root_cause_name(exc)})"


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_SERVER_TEXT else text[: MAX_SERVER_TEXT - 3] + "..."
