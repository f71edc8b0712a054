"""Real PostgreSQL+pgvector, Redis and NATS JetStream for the tests, from the local stack's own launcher."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparkctl.local.process import free_port
from sparkctl.local.servers import EmbeddedServer, nats, postgres, redis


@pytest.fixture
def postgres_dir() -> Iterator[Path]:
    """A folder for PostgreSQL's data outside pytest's temporary root, which is closed to other users: as root,
    PostgreSQL runs as another user, who must reach its data."""
    folder = reachable_folder("sparkctl-test-postgres-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def reachable_folder(prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[EmbeddedServer]:
    folder = reachable_folder("sparkctl-test-postgres-")
    server = postgres(folder, free_port(), durable=False)
    server.process.start()
    yield server
    server.process.stop()
    shutil.rmtree(folder, ignore_errors=True)


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


@pytest.fixture
def database_url(postgres_server: EmbeddedServer) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL, dropped after the test."""
    import uuid

    import psycopg

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    yield postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


@pytest.fixture
def nats_url(nats_server: EmbeddedServer) -> Iterator[str]:
    """The session's NATS, with every stream deleted after the test."""
    import asyncio

    yield nats_server.url

    async def delete_streams() -> None:
        import nats

        client = await nats.connect(nats_server.url)
        stream = client.jetstream()
        for info in await stream.streams_info():
            await stream.delete_stream(info.config.name)
        await client.close()

    if nats_server.process.running:
        asyncio.run(delete_streams())
