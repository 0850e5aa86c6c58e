"""Every auth mode against the simulator over real HTTP: success, wrong credentials, renewal."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from exporter.errors import AuthError
from exporter.simulator import Simulator
from exporter.transport.auth import ClientCredentials, CookieSession
from exporter.transport.client import ApiClient
from exporter.transport.http import RequestStats, Transport
from tests.auth_helpers import SEARCH, source_for

MakeSim = Callable[..., Simulator]


def search(client: ApiClient, stats: RequestStats | None = None) -> list[object]:
    page = client.post_json(SEARCH, {"size": 5}, stats=stats)
    assert isinstance(page["items"], list) and page["items"]
    return page["items"]


@pytest.mark.parametrize(
    ("mode", "extra"),
    [
        pytest.param("none", {}, id="none"),
        pytest.param("basic", {}, id="basic"),
        pytest.param("saas", {}, id="saas-json"),
        pytest.param("saas", {"token_request_format": "form"}, id="saas-form"),
        pytest.param("identity", {}, id="identity"),
        pytest.param("identity", {"audience": None}, id="identity-no-audience"),
        pytest.param("cookie", {}, id="cookie"),
    ],
)
def test_mode_succeeds(make_simulator: MakeSim, mode: str, extra: dict[str, object]) -> None:
    sim = make_simulator(scale=20, auth=mode)
    client = ApiClient(source_for(sim, **extra))
    for _ in range(3):
        search(client)
    key = client.post_json(SEARCH, {"size": 1})["items"][0]["key"]
    assert client.get_json(f"/v1/process-definitions/{key}")["key"] == key  # GET path too
    client.close()
    stats = sim.stats()
    assert stats["unauthorized"] == 0
    assert stats["tokens_issued"] == (1 if mode in ("saas", "identity") else 0)
    assert stats["logins"] == (1 if mode == "cookie" else 0)
    assert stats["logouts"] == (1 if mode == "cookie" else 0)


def test_basic_without_credentials_is_rejected_by_the_simulator(make_simulator: MakeSim) -> None:
    """Guards the tests above: the simulator really enforces auth, so success means something."""
    sim = make_simulator(scale=20, auth="basic")
    client = ApiClient(source_for(sim, mode="none"))
    with pytest.raises(AuthError, match="none authentication: the API rejected"):
        search(client)
    client.close()


@pytest.mark.parametrize(
    ("mode", "wrong", "counter", "reason"),
    [
        pytest.param(
            "saas",
            {"client_secret": "wrong-secret"},
            "token_failures",
            "access_denied: Unauthorized",
            id="saas-secret",
        ),
        pytest.param(
            "saas",
            {"audience": "somewhere.else"},
            "token_failures",
            "Service not found: audience",
            id="saas-audience",
        ),
        pytest.param(
            "identity",
            {"client_secret": "wrong-secret"},
            "token_failures",
            "unauthorized_client",
            id="identity-secret",
        ),
        pytest.param(
            "cookie",
            {"password": "wrong-password"},
            "login_failures",
            "User name not found or password incorrect",
            id="cookie-password",
        ),
    ],
)
def test_wrong_credentials_fail_fast_with_the_servers_reason(
    make_simulator: MakeSim, mode: str, wrong: dict[str, str], counter: str, reason: str
) -> None:
    sim = make_simulator(scale=20, auth=mode)
    client = ApiClient(source_for(sim, **wrong))
    with pytest.raises(AuthError) as caught:
        client.authenticate()
    message = str(caught.value)
    assert message.startswith(f"{mode} authentication")
    assert reason in message
    url = sim.token_url if mode in ("saas", "identity") else f"{sim.base_url}/api/login"
    assert url in message
    # A later request of the same run fails at once without asking the server again.
    with pytest.raises(AuthError):
        search(client)
    client.close()
    stats = sim.stats()
    assert stats[counter] == 1
    assert stats["requests"] == 0  # no API request was sent with a missing credential
    assert caught.value.exit_code == 1


def test_basic_wrong_password_fails_on_the_first_request(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=20, auth="basic")
    client = ApiClient(source_for(sim, password="wrong-password"))
    with pytest.raises(AuthError, match=r"basic authentication.*HTTP 401\): Bad credentials"):
        search(client)
    client.close()
    assert sim.stats()["unauthorized"] == 1  # no pointless retry with the same password


def test_unreachable_token_url_is_retried_then_fails_clearly(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=20, auth="saas")
    port = closed_port()
    sleeps: list[float] = []
    client = ApiClient(
        source_for(sim, token_url=f"http://127.0.0.1:{port}/oauth/token"), sleep=sleeps.append
    )
    with pytest.raises(AuthError) as caught:
        client.authenticate()
    client.close()
    message = str(caught.value)
    assert f"127.0.0.1:{port}/oauth/token" in message
    assert "connection failed" in message and "6 times" in message
    assert len(sleeps) == 5  # max_attempts 6 -> 5 backoffs


def test_token_endpoint_5xx_is_retried(make_simulator: MakeSim) -> None:
    from exporter.simulator import FaultConfig

    sim = make_simulator(
        scale=20, auth="saas", faults=FaultConfig(rate_503=0.6, apply_to_auth=True), seed=3
    )
    client = ApiClient(source_for(sim, retry=_retry(max_attempts=20)))
    search(client)
    client.close()
    stats = sim.stats()
    assert stats["tokens_issued"] == 1
    assert stats["faults"].get("503", 0) >= 1


def test_token_expiring_several_times_during_a_sequence(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=20, auth="saas", token_ttl=1)
    client = ApiClient(source_for(sim))
    stats = RequestStats()
    # Until the third token (a 1 s TTL: about 2 s on a quiet machine), not for a fixed time: a
    # loaded machine gets fewer searches into the same seconds.
    deadline = time.monotonic() + 30
    done = 0
    while sim.stats()["tokens_issued"] < 3 and time.monotonic() < deadline:
        search(client, stats)
        done += 1
        time.sleep(0.05)
    client.close()
    sim_stats = sim.stats()
    assert sim_stats["tokens_issued"] >= 3  # renewed before expiry, several times
    assert sim_stats["tokens_issued"] < done
    assert sim_stats["unauthorized"] == 0  # renewal came before the server said no
    assert stats.requests == done and stats.retries == 0


def test_401_on_an_expired_token_renews_once_and_retries(make_simulator: MakeSim) -> None:
    """A clock that never advances keeps the cached token past its real expiry; the server's
    401 must then invalidate it and the request succeed with a fresh one."""
    sim = make_simulator(scale=20, auth="saas", token_ttl=1)
    source = source_for(sim)
    transport = Transport(source)
    auth = ClientCredentials(source.auth, transport, clock=lambda: 0.0)
    client = ApiClient(source, authenticator=auth, transport=transport)
    stats = RequestStats()
    search(client, stats)
    time.sleep(1.2)
    search(client, stats)
    client.close()
    sim_stats = sim.stats()
    assert sim_stats["unauthorized"] == 1
    assert sim_stats["tokens_issued"] == 2
    assert stats.reauthentications == 1 and stats.requests == 3


def test_concurrent_401s_cause_a_single_renewal(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=20, auth="saas", token_ttl=2)
    source = source_for(sim)
    transport = Transport(source)
    auth = ClientCredentials(source.auth, transport, clock=lambda: 0.0)
    client = ApiClient(source, authenticator=auth, transport=transport)
    barrier = threading.Barrier(8)

    def worker() -> None:
        search(client)  # opens this thread's keep-alive connection, gets token 1
        time.sleep(2.1)  # token 1 is now dead on the server, but still cached
        barrier.wait()
        search(client)

    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(worker) for _ in range(8)]:
            future.result()
    client.close()
    sim_stats = sim.stats()
    assert sim_stats["tokens_issued"] == 2  # one renewal, shared by all eight threads
    assert 1 <= sim_stats["unauthorized"] <= 8


def test_threads_share_one_token_with_short_ttl(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=20, auth="identity", token_ttl=1)
    client = ApiClient(source_for(sim))
    stats = RequestStats()
    deadline = time.monotonic() + 1.6

    def worker() -> int:
        n = 0
        while time.monotonic() < deadline:
            search(client, stats)
            n += 1
        return n

    with ThreadPoolExecutor(8) as pool:
        total = sum(f.result() for f in [pool.submit(worker) for _ in range(8)])
    client.close()
    sim_stats = sim.stats()
    assert total == stats.requests - stats.reauthentications
    assert sim_stats["tokens_issued"] >= 2  # it did renew
    # Renewals are serialized: a handful of tokens for many requests, not one per thread each.
    assert sim_stats["tokens_issued"] * 8 < total
    assert stats.retries == 0


def test_second_401_fails_the_request(make_simulator: MakeSim) -> None:
    class StaleToken:
        """A real authenticator whose every token is unknown to the server."""

        mode = "saas"

        def prepare(self, session: object | None = None) -> None: ...
        def apply(self, headers: dict[str, str], method: str) -> int:
            headers["Authorization"] = "Bearer not-a-token"
            return 1

        def observe(self, response: requests.Response, generation: int) -> None: ...
        def invalidate(self, reason: str, generation: int | None = None) -> bool:
            return True

        def secret_values(self) -> list[str]:
            return []

        def close(self) -> None: ...

    sim = make_simulator(scale=20, auth="saas")
    client = ApiClient(source_for(sim), authenticator=StaleToken())
    with pytest.raises(AuthError, match="even after re-authenticating"):
        search(client)
    client.close()
    assert sim.stats()["unauthorized"] == 2


def test_cookie_session_expiring_mid_sequence(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=20, auth="cookie", session_max_requests=3)
    client = ApiClient(source_for(sim))
    stats = RequestStats()
    for _ in range(10):
        search(client, stats)
    client.close()
    sim_stats = sim.stats()
    assert sim_stats["logins"] >= 3
    assert stats.reauthentications == sim_stats["unauthorized"] >= 2
    assert sim_stats["csrf_rejections"] == 0


def test_cookie_session_expiring_by_age_with_threads(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=20, auth="cookie", session_max_age=0.4)
    client = ApiClient(source_for(sim))
    deadline = time.monotonic() + 1.3

    def worker() -> int:
        n = 0
        while time.monotonic() < deadline:
            search(client)
            n += 1
        return n

    with ThreadPoolExecutor(4) as pool:
        total = sum(f.result() for f in [pool.submit(worker) for _ in range(4)])
    client.close()
    sim_stats = sim.stats()
    assert sim_stats["logins"] >= 2
    assert sim_stats["logins"] < total  # one login per expiry, not one per thread per request
    assert sim_stats["csrf_rejections"] == 0


@pytest.mark.parametrize("header", ["X-CSRF-TOKEN", "OPERATE-X-CSRF-TOKEN"])
def test_cookie_csrf_header_variants(make_simulator: MakeSim, header: str) -> None:
    sim = make_simulator(scale=20, auth="cookie", csrf_header=header)
    source = source_for(sim)
    transport = Transport(source)
    auth = CookieSession(source.auth, source.base_url, transport)
    client = ApiClient(source, authenticator=auth, transport=transport)
    for _ in range(3):
        search(client)
    sent: dict[str, str] = {}
    auth.apply(sent, "POST")
    assert header in sent  # sent back under the name the server used
    assert "OPERATE-SESSION=" in sent["Cookie"]
    client.close()
    assert sim.stats()["csrf_rejections"] == 0
    assert sim.stats()["logouts"] == 1


def test_cookie_without_csrf_would_be_rejected(make_simulator: MakeSim) -> None:
    """Guards the CSRF tests: a POST carrying the cookie but no CSRF header is refused."""
    sim = make_simulator(scale=20, auth="cookie")
    source = source_for(sim)
    transport = Transport(source)
    auth = CookieSession(source.auth, source.base_url, transport)
    auth.prepare()
    headers: dict[str, str] = {}
    auth.apply(headers, "GET")  # GET: cookie only
    assert "X-CSRF-TOKEN" not in headers
    headers["Content-Type"] = "application/json"
    response = transport.session().post(sim.base_url + SEARCH, data=b"{}", headers=headers)
    assert response.status_code == 403
    auth.close()
    transport.close()
    assert sim.stats()["csrf_rejections"] == 1


def _retry(**kwargs: float) -> object:
    from exporter.spec import RetrySpec

    base = {"max_attempts": 6, "initial_backoff_seconds": 0.01, "max_backoff_seconds": 0.05}
    return RetrySpec(**{**base, **kwargs})


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
