"""The local stack's embedded servers: real PostgreSQL+pgvector, Redis and NATS JetStream processes."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from sparkctl.errors import PortInUse, ProcessError
from sparkctl.local.process import ManagedProcess, ProcessSpec, free_port
from sparkctl.local.servers import EmbeddedServer, postgres, redis

pytestmark = pytest.mark.integration


def test_postgres_has_pgvector_and_requires_its_password(postgres_server: EmbeddedServer) -> None:
    import psycopg

    with psycopg.connect(postgres_server.url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        distance = conn.execute("SELECT '[1,0]'::vector <=> '[0,1]'::vector").fetchone()
    assert distance == (1.0,)
    wrong = postgres_server.url.replace("postgres:", "postgres:wrong", 1)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=3)


def test_redis_answers_with_its_password_only(redis_server: EmbeddedServer) -> None:
    import redis as redis_client

    client = redis_client.Redis.from_url(redis_server.url)
    assert client.set("greeting", "hello") and client.get("greeting") == b"hello"
    stranger = redis_client.Redis(port=client.connection_pool.connection_kwargs["port"])
    with pytest.raises(redis_client.AuthenticationError):
        stranger.get("greeting")


def test_nats_has_jetstream(nats_server: EmbeddedServer) -> None:
    import nats

    async def roundtrip() -> bytes:
        client = await nats.connect(nats_server.url)
        stream = client.jetstream()
        await stream.add_stream(name="PROBE", subjects=["probe.>"])
        await stream.publish("probe.one", b"payload")
        message = await stream.get_last_msg("PROBE", "probe.one")
        await client.close()
        return message.data

    assert asyncio.run(roundtrip()) == b"payload"


def test_data_survives_a_restart(tmp_path: Path) -> None:
    import redis as redis_client

    server = redis(tmp_path, free_port(), durable=True)
    server.process.start()
    redis_client.Redis.from_url(server.url).set("kept", "yes")
    server.process.restart()
    assert redis_client.Redis.from_url(server.url).get("kept") == b"yes"
    server.process.stop()
    assert not server.process.running


def test_a_taken_port_is_named_before_starting(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        server = redis(tmp_path, port)
        with pytest.raises(PortInUse) as caught:
            server.process.start()
    assert caught.value.message == f"port {port} on 127.0.0.1, needed by redis, is already in use"
    assert "ss -ltnp" in caught.value.hint


def test_a_process_that_dies_at_start_reports_its_last_words(tmp_path: Path) -> None:
    spec = ProcessSpec(
        name="broken",
        argv=["sh", "-c", "echo 'config line 3: bad value' >&2; exit 3"],
        port=free_port(),
        log_path=tmp_path / "broken.log",
        ready=lambda: False,
    )
    with pytest.raises(ProcessError) as caught:
        ManagedProcess(spec).start()
    assert caught.value.message == "broken exited during start: config line 3: bad value"
    assert str(tmp_path / "broken.log") in caught.value.hint


def test_a_process_that_never_gets_ready_is_stopped_after_its_timeout(tmp_path: Path) -> None:
    spec = ProcessSpec(
        name="sleepy", argv=["sleep", "30"], port=free_port(), log_path=tmp_path / "sleepy.log",
        ready=lambda: False, start_timeout=0.5,
    )
    process = ManagedProcess(spec)
    with pytest.raises(ProcessError, match=r"did not become ready within [01] s"):
        process.start()
    assert not process.running


def test_postgres_data_dir_is_reused_with_the_same_password(postgres_dir: Path) -> None:
    import psycopg

    first = postgres(postgres_dir, free_port(), durable=False)
    first.process.start()
    with psycopg.connect(first.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
    first.process.stop()
    again = postgres(postgres_dir, free_port(), durable=False)
    again.process.start()
    with psycopg.connect(again.url) as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)
    again.process.stop()
    assert "already exists" not in again.process.spec.log_path.read_text()
