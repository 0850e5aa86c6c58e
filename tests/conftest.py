"""Shared pytest fixtures. The simulator fixtures come first; others may add theirs below."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exporter.simulator import Simulator, SimulatorConfig


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., Simulator]]:
    """Factory: ``make_simulator(**SimulatorConfig kwargs)`` -> a started simulator on a free
    port, stopped at teardown."""
    started: list[Simulator] = []

    def make(**config: Any) -> Simulator:
        config.setdefault("port", 0)
        sim = Simulator(SimulatorConfig(**config)).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    """A module-scoped default simulator (scale 300, seed 7, auth none) for read-only tests."""
    sim = Simulator(SimulatorConfig(scale=300, seed=7, port=0)).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def hostile_server() -> Iterator[Callable[..., Any]]:
    """Factory: ``hostile_server({path: behaviour, ...})`` -> a started
    ``tests.hostile_server.HostileServer`` on a free loopback port, stopped at teardown."""
    from tests.hostile_server import HostileServer

    started: list[HostileServer] = []

    def make(routes: dict[str, Any]) -> HostileServer:
        server = HostileServer(dict(routes)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
