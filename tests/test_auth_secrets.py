"""No secret (client secret, password, token, cookie, CSRF token) in logs, errors or reprs.

Every mode runs requests with distinctive secret values, on success and failure paths, with all
logging captured at DEBUG (urllib3's included). The live tokens, cookies and CSRF values are read
from the authenticator; the test first checks it really saw them, so it cannot pass vacuously.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from exporter.errors import ExporterError
from exporter.simulator import FaultConfig, Simulator
from exporter.spec import RetrySpec
from exporter.transport.client import ApiClient
from tests.auth_helpers import SEARCH, source_for
from tests.secrets_util import assert_no_leaks, exception_texts, find_leaks

MakeSim = Callable[..., Simulator]
CLIENT_SECRET = "S3CR3T-client-9f2c"
PASSWORD = "P4SSW0RD-user-7d1e"
WRONG_SECRET = "WR0NG-secret-41aa"
WRONG_PASSWORD = "WR0NG-password-c3b0"
FIXED_SECRETS = [CLIENT_SECRET, PASSWORD, WRONG_SECRET, WRONG_PASSWORD]
RETRY = RetrySpec(max_attempts=8, initial_backoff_seconds=0.01, max_backoff_seconds=0.02)


def test_scanner_finds_plain_encoded_and_base64_forms() -> None:
    assert find_leaks(f"x {CLIENT_SECRET} y", [CLIENT_SECRET])
    assert find_leaks("Authorization: Basic ZGVtbzpQNFNTVzBSRC11c2VyLTdkMWU=", [PASSWORD]) == []
    import base64

    encoded = base64.b64encode(PASSWORD.encode()).decode()
    assert find_leaks(f"token {encoded}", [PASSWORD])
    assert find_leaks("password=P4SSW0RD%2Duser", ["P4SSW0RD-user"]) == []
    assert find_leaks("nothing here", FIXED_SECRETS) == []


@pytest.mark.parametrize("mode", ["saas", "identity", "cookie", "basic"])
def test_no_secret_in_logs_errors_or_reprs(
    make_simulator: MakeSim, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = make_simulator(
        scale=20,
        auth=mode,
        client_secret=CLIENT_SECRET,
        password=PASSWORD,
        token_ttl=1,
        session_max_requests=2,
        faults=FaultConfig(rate_503=0.2, rate_html=0.1, rate_truncated=0.1, apply_to_auth=True),
    )
    texts: list[str] = []
    live: list[str] = []

    # Success path, with renewals / re-logins and retried faults along the way.
    client = ApiClient(source_for(sim, retry=RETRY))
    for _ in range(6):
        client.post_json(SEARCH, {"size": 3})
    live += client.authenticator.secret_values()
    texts += [repr(client), repr(client.authenticator), repr(client.source), str(client.source)]
    client.close()

    # Failure paths: wrong credentials, then a 400 from the API.
    wrong = {"client_secret": WRONG_SECRET, "password": WRONG_PASSWORD}
    if mode in ("saas", "identity"):
        wrong.pop("password")
    else:
        wrong.pop("client_secret")
    bad = ApiClient(source_for(sim, retry=RETRY, **wrong))
    with pytest.raises(ExporterError) as rejected:
        bad.post_json(SEARCH, {"size": 3})
    texts.append(exception_texts(rejected.value))
    texts.append(repr(bad.authenticator))
    bad.close()

    other = ApiClient(source_for(sim, retry=RETRY))
    with pytest.raises(ExporterError) as invalid:
        other.post_json(SEARCH, {"size": 5000})
    texts.append(exception_texts(invalid.value))
    live += other.authenticator.secret_values()
    other.close()

    # The live credentials were really captured (tokens / session ids / CSRF tokens).
    dynamic = [s for s in live if s not in FIXED_SECRETS]
    if mode in ("saas", "identity"):
        assert len(dynamic) >= 2  # renewed with token_ttl=1
    elif mode == "cookie":
        assert len(dynamic) >= 4  # several sessions, each with a cookie and a CSRF token
    else:
        assert dynamic  # the Basic header value

    log_text = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    )
    assert "retrying" in log_text  # the fault paths were logged
    secrets = FIXED_SECRETS + live
    assert_no_leaks("log records", log_text, secrets)
    assert_no_leaks("errors and reprs", "\n".join(texts), secrets)
    assert_no_leaks("captured pytest log text", caplog.text, secrets)
