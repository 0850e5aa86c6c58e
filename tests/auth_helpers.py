"""Shared builders for the auth/http tests: a SourceSpec for a simulator, a recording sleep."""

from __future__ import annotations

import threading
from typing import Any

from exporter.simulator import Simulator
from exporter.spec import AuthSpec, RetrySpec, SourceSpec, TlsSpec

SEARCH = "/v1/process-definitions/search"
FAST_RETRY = RetrySpec(max_attempts=6, initial_backoff_seconds=0.01, max_backoff_seconds=0.05)


def source_for(
    sim: Simulator,
    *,
    retry: RetrySpec = FAST_RETRY,
    timeout: float = 5.0,
    tls: TlsSpec | None = None,
    **auth: Any,
) -> SourceSpec:
    """A source pointing at ``sim`` with the simulator's mode and the given auth overrides."""
    mode = auth.pop("mode", sim.config.auth)
    if mode in ("saas", "identity"):
        auth.setdefault("client_id", sim.config.client_id)
        auth.setdefault("client_secret", sim.config.client_secret)
        auth.setdefault("token_url", sim.token_url)
        auth.setdefault("audience", "operate.camunda.io" if mode == "saas" else "operate-api")
    if mode in ("cookie", "basic"):
        auth.setdefault("username", sim.config.username)
        auth.setdefault("password", sim.config.password)
    return SourceSpec(
        base_url=sim.base_url,
        auth=AuthSpec(mode=mode, **auth),
        retry=retry,
        timeout_seconds=timeout,
        tls=tls or TlsSpec(),
    )


class RecordingSleep:
    """Injectable sleep: records the requested delays, waits only ``real_fraction`` of them."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.delays.append(seconds)
