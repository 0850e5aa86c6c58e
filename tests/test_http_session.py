"""Session plumbing of ``transport/http.py``: keep-alive, single-read bodies, environment once."""

from __future__ import annotations

import pytest

from exporter.simulator import Simulator
from exporter.transport.client import ApiClient
from exporter.transport.http import RequestStats, Transport
from tests.auth_helpers import SEARCH, source_for


def _pool_connections(client: ApiClient) -> int:
    session = client.transport.session()
    pools = session.get_adapter(client.base_url).poolmanager.pools
    # RecentlyUsedContainer refuses plain iteration; keys() is its thread-safe snapshot.
    return sum(pools[key].num_connections for key in pools.keys())  # noqa: SIM118


def test_bodies_read_in_one_call_keep_the_connection_alive(simulator: Simulator) -> None:
    client = ApiClient(source_for(simulator))
    stats = RequestStats()
    try:
        for _ in range(20):
            page = client.post_json(SEARCH, {"size": 20}, stats=stats)
            assert len(page["items"]) == 20
            key = page["items"][0]["key"]
            assert client.get_json(f"/v1/process-definitions/{key}")["key"] == key
        # 40 requests, one connection: the body read hands the socket back to the pool.
        assert _pool_connections(client) == 1
        assert stats.requests == 20  # the searches (the GETs counted nowhere)
        assert stats.bytes_received > 20 * 20 * 50
    finally:
        client.close()


def test_environment_proxies_are_resolved_once_per_origin(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    transport = Transport(source_for(simulator))
    try:
        local = transport._environment(simulator.base_url + "/v1/x")
        assert local.proxies == {}  # no_proxy covers the simulator
        remote = transport._environment("https://operate.example:8443/v1/x")
        assert remote.proxies.get("https") == "http://127.0.0.1:9"
        # Cached per origin: later changes of the environment are not re-read per request.
        monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:10")
        again = transport._environment("https://operate.example:8443/v1/other")
        assert again is remote
        assert transport.session().trust_env is False
    finally:
        transport.close()


def test_ca_bundle_variable_is_honoured_when_verify_is_on(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    transport = Transport(source_for(simulator))
    try:
        assert transport._environment("https://operate.example/v1/x").verify == (
            "/etc/ssl/certs/ca-certificates.crt"
        )
    finally:
        transport.close()
