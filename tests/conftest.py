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


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    """A real S3 server (moto's server mode, ``tests.s3_server.S3Server``) on a free loopback
    port for the whole session (one per xdist worker), with fake AWS credentials in the
    environment while it runs. ``s3_server.new_bucket()`` gives each test its own bucket;
    ``s3_server.storage_options`` is what a spec's ``output.storage_options`` needs."""
    import os

    from tests.s3_server import FAKE_CREDENTIALS, S3Server

    saved = {name: os.environ.get(name) for name in FAKE_CREDENTIALS}
    os.environ.update(FAKE_CREDENTIALS)
    server = S3Server().start()
    try:
        yield server
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
