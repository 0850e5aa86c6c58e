"""Retries against the simulator's injected faults, over real HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from exporter.errors import ApiError, RetriesExhausted
from exporter.simulator import FaultConfig, Simulator
from exporter.spec import RetrySpec
from exporter.transport.client import ApiClient
from exporter.transport.http import RequestStats
from tests.auth_helpers import SEARCH, source_for

MakeSim = Callable[..., Simulator]
RETRY = RetrySpec(max_attempts=10, initial_backoff_seconds=0.01, max_backoff_seconds=0.02)


@pytest.mark.parametrize(
    ("kind", "faults", "mode"),
    [
        pytest.param("429", FaultConfig(rate_429=0.4, retry_after=0), "none", id="429"),
        pytest.param("500", FaultConfig(rate_500=0.4), "none", id="500"),
        pytest.param("502", FaultConfig(rate_502=0.4), "none", id="502"),
        pytest.param("503", FaultConfig(rate_503=0.4), "none", id="503"),
        pytest.param("504", FaultConfig(rate_504=0.4), "none", id="504"),
        pytest.param("reset", FaultConfig(rate_reset=0.4), "none", id="reset"),
        pytest.param("truncated", FaultConfig(rate_truncated=0.4), "none", id="truncated"),
        pytest.param("html", FaultConfig(rate_html=0.4), "none", id="html"),
        pytest.param(
            "slow", FaultConfig(rate_slow=0.3, slow_seconds=0.6), "none", id="slow-timeout"
        ),
        pytest.param("reset", FaultConfig(rate_reset=0.4), "cookie", id="reset-cookie"),
        pytest.param("html", FaultConfig(rate_html=0.4), "cookie", id="html-cookie"),
        pytest.param("503", FaultConfig(rate_503=0.4), "cookie", id="503-cookie"),
    ],
)
def test_each_fault_kind_is_retried(
    make_simulator: MakeSim, kind: str, faults: FaultConfig, mode: str
) -> None:
    _run_fault_case(make_simulator, kind, faults, mode)


def _run_fault_case(make_simulator: MakeSim, kind: str, faults: FaultConfig, mode: str) -> None:
    sim = make_simulator(scale=30, auth=mode, faults=faults)
    client = ApiClient(source_for(sim, retry=RETRY, timeout=0.3))
    stats = RequestStats()
    expected = sim.dataset.search_view("process-definitions")[:5]
    for _ in range(8):
        page = client.post_json(SEARCH, {"size": 5}, stats=stats)
        assert page["items"] == expected  # the retried answer is the real, complete one
    client.close()
    injected = sim.stats()["faults"].get(kind, 0)
    assert injected >= 2
    assert stats.retries == injected  # every fault cost exactly one retry
    assert stats.requests == 8 + injected
    assert stats.bytes_received > 0


def test_retry_after_seconds_is_honoured(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=30, faults=FaultConfig(rate_429=0.5, retry_after=3))
    sleeps: list[float] = []
    retry = RetrySpec(max_attempts=10, initial_backoff_seconds=0.01, max_backoff_seconds=10)
    client = ApiClient(source_for(sim, retry=retry), sleep=sleeps.append)
    for _ in range(8):
        client.post_json(SEARCH, {"size": 5})
    client.close()
    assert len(sleeps) == sim.stats()["faults"]["429"] >= 2
    assert sleeps == [3.0] * len(sleeps)  # the server's hint, not our backoff


def test_retry_after_is_capped_by_max_backoff(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=30, faults=FaultConfig(rate_429=0.5, retry_after=3))
    sleeps: list[float] = []
    retry = RetrySpec(max_attempts=10, initial_backoff_seconds=0.01, max_backoff_seconds=0.5)
    client = ApiClient(source_for(sim, retry=retry), sleep=sleeps.append)
    for _ in range(8):
        client.post_json(SEARCH, {"size": 5})
    client.close()
    assert sleeps and all(s == 0.5 for s in sleeps)


def test_retry_after_zero_means_use_backoff(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=30, faults=FaultConfig(rate_429=0.5, retry_after=0))
    sleeps: list[float] = []
    retry = RetrySpec(max_attempts=10, initial_backoff_seconds=0.2, max_backoff_seconds=5)
    client = ApiClient(source_for(sim, retry=retry), sleep=sleeps.append)
    for _ in range(8):
        client.post_json(SEARCH, {"size": 5})
    client.close()
    assert sleeps
    assert all(0.0 <= s <= 5 for s in sleeps)
    assert len(set(sleeps)) == len(sleeps)  # jittered, not a fixed hint


def test_exhausted_retries_name_the_last_failure(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=30, faults=FaultConfig(rate_503=1.0))
    sleeps: list[float] = []
    retry = RetrySpec(max_attempts=4, initial_backoff_seconds=0.1, max_backoff_seconds=0.3)
    client = ApiClient(source_for(sim, retry=retry), sleep=sleeps.append)
    stats = RequestStats()
    with pytest.raises(RetriesExhausted) as caught:
        client.post_json(SEARCH, {"size": 5}, stats=stats)
    client.close()
    message = str(caught.value)
    assert "HTTP 503" in message and "4 times" in message and SEARCH in message
    assert caught.value.status == 503 and caught.value.exit_code == 1
    assert sim.stats()["requests"] == 4 == stats.requests
    assert stats.retries == 3 == len(sleeps)
    # Exponential ceilings 0.1, 0.2, 0.3 (capped): full jitter stays under each.
    assert all(s <= c for s, c in zip(sleeps, [0.1, 0.2, 0.3], strict=True))


def test_a_400_is_not_retried_and_keeps_the_server_message(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=30)
    client = ApiClient(source_for(sim))
    stats = RequestStats()
    with pytest.raises(ApiError) as caught:
        client.post_json(SEARCH, {"size": 5000}, stats=stats)
    client.close()
    error = caught.value
    assert not isinstance(error, RetriesExhausted)
    assert error.status == 400
    assert error.server_message and "size" in error.server_message
    assert error.instance and error.instance in str(error)
    assert sim.stats()["requests"] == 1 and stats.retries == 0


def test_404_on_get_by_key_is_fatal(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=30)
    client = ApiClient(source_for(sim))
    with pytest.raises(ApiError) as caught:
        client.get_json("/v1/process-definitions/1")
    client.close()
    assert caught.value.status == 404
    assert sim.stats()["requests"] == 1


def test_xml_is_fetched_as_text(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=30, faults=FaultConfig(rate_truncated=0.3, rate_html=0.3))
    client = ApiClient(source_for(sim, retry=RETRY))
    key = sim.dataset.records("process-definitions")[0]["key"]
    for _ in range(5):
        assert client.get_text(f"/v1/process-definitions/{key}/xml") == sim.dataset.xml(
            "process-definitions", key
        )
    client.close()
