"""Real PostgreSQL+pgvector, Redis and NATS JetStream for the tests, from the local stack's own launcher."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sparkctl.local.process import free_port
from sparkctl.local.servers import EmbeddedServer, nats, postgres, redis


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    server = postgres(tmp_path_factory.mktemp("postgres"), free_port(), durable=False)
    server.process.start()
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    server = redis(tmp_path_factory.mktemp("redis"), free_port(), durable=False)
    server.process.start()
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    server = nats(tmp_path_factory.mktemp("nats"), free_port())
    server.process.start()
    yield server
    server.process.stop()


@pytest.fixture
def running(request: pytest.FixtureRequest) -> Iterator[None]:
    """Restarts, after the test, any session server a fault test stopped."""
    yield
    for name in ("postgres_server", "redis_server", "nats_server"):
        if name in request.fixturenames:
            server: EmbeddedServer = request.getfixturevalue(name)
            if not server.process.running:
                server.process.start()
