"""Unit tests of the pure classify / Retry-After / backoff functions in exporter.transport.retry."""

from __future__ import annotations

import email.utils
import random

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from exporter.transport.retry import (
    Expect,
    Kind,
    backoff_delay,
    classify_exception,
    classify_response,
    parse_retry_after,
    server_reason,
)

JSON = CaseInsensitiveDict({"Content-Type": "application/json"})
PROBLEM = CaseInsensitiveDict({"Content-Type": "application/problem+json"})
HTML = CaseInsensitiveDict({"Content-Type": "text/html; charset=utf-8"})
XML = CaseInsensitiveDict({"Content-Type": "text/xml"})


@pytest.mark.parametrize(
    ("status", "headers", "body", "expect", "kind"),
    [
        pytest.param(200, JSON, b'{"items": []}', Expect.JSON, Kind.OK, id="ok-json"),
        pytest.param(429, JSON, b"", Expect.JSON, Kind.RETRY, id="429"),
        pytest.param(500, PROBLEM, b'{"message": "x"}', Expect.JSON, Kind.RETRY, id="500"),
        pytest.param(502, HTML, b"<html>bad gateway</html>", Expect.JSON, Kind.RETRY, id="502"),
        pytest.param(503, JSON, b"", Expect.JSON, Kind.RETRY, id="503"),
        pytest.param(504, JSON, b"", Expect.JSON, Kind.RETRY, id="504"),
        pytest.param(200, JSON, b'{"items": [1, 2', Expect.JSON, Kind.RETRY, id="truncated"),
        pytest.param(200, JSON, b"", Expect.JSON, Kind.RETRY, id="empty"),
        pytest.param(200, HTML, b"<!DOCTYPE html><p>login</p>", Expect.JSON, Kind.RETRY, id="html"),
        pytest.param(
            200, JSON, b"<html><body>SSO</body></html>", Expect.JSON, Kind.RETRY, id="html-as-json"
        ),
        pytest.param(200, XML, b"<definitions><a/></definitions>", Expect.TEXT, Kind.OK, id="xml"),
        pytest.param(200, XML, b"<definitions><a/></defin", Expect.TEXT, Kind.RETRY, id="xml-cut"),
        pytest.param(204, JSON, b"", Expect.NOTHING, Kind.OK, id="204-login"),
        pytest.param(200, HTML, b"<html>login</html>", Expect.NOTHING, Kind.RETRY, id="html-login"),
        pytest.param(
            401, JSON, b'{"message": "Jwt expired"}', Expect.JSON, Kind.UNAUTHORIZED, id="401"
        ),
        pytest.param(400, PROBLEM, b'{"message": "bad"}', Expect.JSON, Kind.FATAL, id="400"),
        pytest.param(403, PROBLEM, b'{"message": "no"}', Expect.JSON, Kind.FATAL, id="403"),
        pytest.param(404, PROBLEM, b'{"message": "gone"}', Expect.JSON, Kind.FATAL, id="404"),
        pytest.param(302, HTML, b"", Expect.JSON, Kind.FATAL, id="redirect"),
    ],
)
def test_classify_response(
    status: int, headers: CaseInsensitiveDict[str], body: bytes, expect: Expect, kind: Kind
) -> None:
    assert classify_response(status, headers, body, expect).kind is kind


def test_json_keeps_int64_keys_exact() -> None:
    key = 2**63 - 1
    verdict = classify_response(200, JSON, b'{"key": 9223372036854775807}', Expect.JSON)
    assert verdict.value == {"key": key}
    assert isinstance(verdict.value["key"], int)


def test_problem_json_message_and_instance_are_kept() -> None:
    body = (
        b'{"status":400,"message":"size should be greater than zero","instance":"7c1e","type":"x"}'
    )
    verdict = classify_response(400, PROBLEM, body, Expect.JSON)
    assert verdict.server_message == "size should be greater than zero"
    assert verdict.instance == "7c1e"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            b'{"error":"access_denied","error_description":"Unauthorized"}',
            "access_denied: Unauthorized",
            id="oauth",
        ),
        pytest.param(
            b'{"detail":"bad filter","title":"Bad Request"}', "Bad Request: bad filter", id="v2"
        ),
        pytest.param(b'{"title":"Bad Request"}', "Bad Request", id="v2-title"),
        pytest.param(b"<html>oops</html>", None, id="html"),
        pytest.param(b"[1]", None, id="not-object"),
    ],
)
def test_server_reason(body: bytes, expected: str | None) -> None:
    assert server_reason(body)[0] == expected


def test_retry_after_header_on_429_is_read() -> None:
    headers = CaseInsensitiveDict({"Retry-After": "7"})
    assert classify_response(429, headers, b"", Expect.JSON).retry_after == 7.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("0", None), ("-5", None), ("soon", None), ("", None), (None, None), ("1.5", 1.5)],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    future = email.utils.formatdate(now + 12, usegmt=True)
    past = email.utils.formatdate(now - 12, usegmt=True)
    assert parse_retry_after(future, now=now) == pytest.approx(12.0)
    assert parse_retry_after(past, now=now) is None


def test_backoff_full_jitter_stays_under_the_exponential_ceiling() -> None:
    rng = random.Random(3)
    for n in range(12):
        ceiling = min(8.0, 0.5 * 2**n)
        delays = [backoff_delay(n, initial=0.5, maximum=8.0, rng=rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # Full jitter spreads over the whole range, not just near the ceiling.
        assert min(delays) < ceiling * 0.25 and max(delays) > ceiling * 0.75


def test_backoff_honours_retry_after_capped_by_maximum() -> None:
    assert backoff_delay(0, initial=0.5, maximum=30.0, retry_after=4.0) == 4.0
    assert backoff_delay(5, initial=0.5, maximum=2.0, retry_after=60.0) == 2.0


def test_backoff_huge_attempt_number_does_not_overflow() -> None:
    assert backoff_delay(10_000, initial=1.0, maximum=5.0, rng=random.Random(1)) <= 5.0


@pytest.mark.parametrize(
    ("exc", "kind", "phrase"),
    [
        (
            requests.exceptions.ConnectTimeout("http://h/x?password=p"),
            Kind.RETRY,
            "connect timeout",
        ),
        (requests.exceptions.ReadTimeout("http://h/x"), Kind.RETRY, "read timeout"),
        (
            requests.exceptions.ConnectionError(ConnectionResetError(104, "reset")),
            Kind.RETRY,
            "ConnectionResetError",
        ),
        (requests.exceptions.ChunkedEncodingError("IncompleteRead"), Kind.RETRY, "cut off"),
        (
            requests.exceptions.SSLError("certificate verify failed: self-signed certificate"),
            Kind.FATAL,
            "self-signed",
        ),
        (requests.exceptions.InvalidURL("http://user:pw@"), Kind.FATAL, "unusable URL"),
    ],
)
def test_classify_exception(exc: BaseException, kind: Kind, phrase: str) -> None:
    verdict = classify_exception(exc, timeout_seconds=2)
    assert verdict.kind is kind
    assert phrase in verdict.reason
    # Only class names and fixed phrases: the exception text (URLs) never gets in.
    assert "password" not in verdict.reason and "pw@" not in verdict.reason
