"""Schema migrations, job records, the file index and the INGEST stream, on real PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import os
import tempfile
import tracemalloc
import uuid
from collections.abc import AsyncIterator

import pytest
from psycopg import AsyncConnection

from sparkctl.services.common import files, jobs, messaging
from sparkctl.services.common.schema import MIGRATIONS, Migration, migrate

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


async def connect(url: str) -> AsyncConnection:
    return await AsyncConnection.connect(url, autocommit=True)


async def test_migrations_apply_once_even_when_many_processes_start_together(database_url: str) -> None:
    connections = [await connect(database_url) for _ in range(5)]
    results = await asyncio.gather(*(migrate(conn) for conn in connections))
    assert sorted(results, key=len) == [[], [], [], [], [m.version for m in MIGRATIONS]]
    assert await migrate(connections[0]) == []
    for conn in connections:
        await conn.close()


async def test_a_new_migration_is_applied_after_the_existing_ones(database_url: str) -> None:
    async with await connect(database_url) as conn:
        await migrate(conn)
        extra = (*MIGRATIONS, Migration(99, "later", "CREATE TABLE later_table (x int)"))
        assert await migrate(conn, extra) == [99]
        cursor = await conn.execute("SELECT max(version) FROM schema_migrations")
        assert await cursor.fetchone() == (99,)


async def test_a_failing_migration_leaves_nothing_half_done(database_url: str) -> None:
    async with await connect(database_url) as conn:
        broken = (*MIGRATIONS, Migration(98, "broken", "CREATE TABLE t98 (x int); SELECT nope FROM nowhere"))
        with pytest.raises(Exception, match="nowhere"):
            await migrate(conn, broken)
        cursor = await conn.execute("SELECT to_regclass('documents'), to_regclass('t98')")
        assert await cursor.fetchone() == (None, None)


async def test_a_job_moves_through_its_states_with_counters(database_url: str) -> None:
    async with await connect(database_url) as conn:
        await migrate(conn)
        document = await jobs.store_document(
            conn, workspace="ws", name="repo.tar.gz", content_type="application/gzip", data=b"x" * 1000
        )
        job = await jobs.create_job(conn, document=document, kind="codebase", source="repo")
        assert (job.status, job.attempts, job.workspace) == ("queued", 0, "ws")

        started = await jobs.start_attempt(conn, job.id)
        assert started is not None and (started.status, started.attempts) == ("started", 1)
        await jobs.update_progress(
            conn,
            job.id,
            status="indexing",
            files_total=10,
            files_done=4,
            skipped={"binary": 2},
            skipped_files=[("logo.png", "binary"), ("data.bin", "binary")],
        )
        await jobs.finish_job(conn, job.id)
        done = await jobs.get_job(conn, job.id)
        assert done is not None
        assert (done.status, done.files_total, done.files_done, done.skipped) == ("completed", 10, 4, {"binary": 2})
        assert done.skipped_files == [("logo.png", "binary"), ("data.bin", "binary")]
        assert done.finished and done.finished_at is not None

        with tempfile.TemporaryFile() as file:
            loaded = await jobs.load_document(conn, document.id, file)
            file.seek(0)
            assert loaded == document and file.read() == b"x" * 1000


async def pieces_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_an_upload_is_stored_in_pieces_and_read_back_byte_exact(database_url: str) -> None:
    data = os.urandom(5 * MiB + 12345)
    async with await connect(database_url) as conn:
        await migrate(conn)
        document = await jobs.store_document(
            conn, workspace="ws", name="big.tar", content_type="application/x-tar", data=pieces_of(data, 300_000)
        )
        assert (document.size, document.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        cursor = await conn.execute(
            "SELECT seq, length(data) FROM document_chunks WHERE document_id = %s ORDER BY seq", (document.id,)
        )
        assert await cursor.fetchall() == [(seq, MiB) for seq in range(5)] + [(5, 12345)]
        cursor = await conn.execute("SELECT blob IS NULL, size, sha256 FROM documents WHERE id = %s", (document.id,))
        assert await cursor.fetchone() == (True, len(data), document.sha256)

        with tempfile.SpooledTemporaryFile(max_size=MiB) as spool:
            loaded = await jobs.load_document(conn, document.id, spool)
            spool.seek(0)
            assert loaded == document
            assert spool.read() == data


async def test_storing_and_loading_an_upload_never_holds_it_whole(database_url: str) -> None:
    total, piece = 64 * MiB, 256 * 1024

    async def generated() -> AsyncIterator[bytes]:
        for n in range(total // piece):
            yield bytes([n % 251]) * piece

    async with await connect(database_url) as conn:
        await migrate(conn)
        tracemalloc.start()
        try:
            document = await jobs.store_document(conn, workspace="ws", name="big", content_type="t", data=generated())
            stored_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            with tempfile.TemporaryFile() as file:
                await jobs.load_document(conn, document.id, file)
                loaded_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert document.size == total
    assert stored_peak < 8 * MiB, f"storing 64 MiB peaked at {stored_peak / MiB:.1f} MiB of Python allocations"
    assert loaded_peak < 8 * MiB, f"loading 64 MiB peaked at {loaded_peak / MiB:.1f} MiB of Python allocations"


async def test_an_upload_refused_midway_leaves_no_document_and_no_chunks(database_url: str) -> None:
    class OverTheLimit(Exception):
        pass

    async def refused() -> AsyncIterator[bytes]:
        yield b"x" * MiB
        yield b"y" * MiB
        raise OverTheLimit("larger than the limit")

    async with await connect(database_url) as conn:
        await migrate(conn)
        with pytest.raises(OverTheLimit):
            await jobs.store_document(conn, workspace="ws", name="big", content_type="t", data=refused())
        cursor = await conn.execute("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM document_chunks)")
        assert await cursor.fetchone() == (0, 0)


async def test_an_upload_stored_before_migration_3_is_still_read(database_url: str) -> None:
    data = os.urandom(3 * MiB + 7)
    async with await connect(database_url) as conn:
        await migrate(conn, tuple(m for m in MIGRATIONS if m.version < 3))
        document_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO documents (id, workspace, name, content_type, size, sha256, blob) "
            "VALUES (%s, 'ws', 'old.tar.gz', 'application/gzip', %s, %s, %s)",
            (document_id, len(data), hashlib.sha256(data).hexdigest(), gzip.compress(data, 6)),
        )
        assert 3 in await migrate(conn)
        with tempfile.TemporaryFile() as file:
            loaded = await jobs.load_document(conn, document_id, file)
            file.seek(0)
            assert loaded is not None and (loaded.name, loaded.size) == ("old.tar.gz", len(data))
            assert file.read() == data


async def test_a_damaged_upload_is_refused_when_it_is_read(database_url: str) -> None:
    async with await connect(database_url) as conn:
        await migrate(conn)
        document = await jobs.store_document(
            conn, workspace="ws", name="repo.tar", content_type="t", data=os.urandom(3 * MiB)
        )
        await conn.execute("DELETE FROM document_chunks WHERE document_id = %s AND seq = 1", (document.id,))
        damaged = r"the stored upload repo\.tar \(\S+\) is damaged: 2097152 bytes"
        with tempfile.TemporaryFile() as file, pytest.raises(jobs.DamagedDocument, match=damaged):
            await jobs.load_document(conn, document.id, file)
        assert await jobs.load_document(conn, uuid.uuid4(), io.BytesIO()) is None


async def test_failed_job_keeps_its_reason_and_lists_filter_by_workspace_and_status(database_url: str) -> None:
    async with await connect(database_url) as conn:
        await migrate(conn)
        made = []
        for workspace in ("a", "a", "b"):
            document = await jobs.store_document(conn, workspace=workspace, name="n", content_type="t", data=b"d")
            made.append(await jobs.create_job(conn, document=document, kind="document", source="n"))
        await jobs.finish_job(conn, made[0].id, error="corrupt archive: bad gzip")
        failed = await jobs.get_job(conn, made[0].id)
        assert failed is not None and (failed.status, failed.error) == ("failed", "corrupt archive: bad gzip")
        assert [j.id for j in await jobs.list_jobs(conn, workspaces=["a"])] == [made[1].id, made[0].id]
        assert [j.id for j in await jobs.list_jobs(conn, workspaces=["a"], status="failed")] == [made[0].id]
        assert len(await jobs.list_jobs(conn)) == 3
        assert await jobs.start_attempt(conn, uuid.uuid4()) is None


async def test_file_index_is_per_workspace_and_source(database_url: str) -> None:
    async with await connect(database_url) as conn:
        await migrate(conn)
        job_id = uuid.uuid4()
        await files.record_files(conn, "ws", "repo", {"a.py": "1", "b.py": "2"}, job_id)
        await files.record_files(conn, "ws", "other", {"a.py": "9"}, job_id)
        await files.record_files(conn, "ws", "repo", {"a.py": "3"}, job_id)
        assert await files.indexed_files(conn, "ws", "repo") == {"a.py": "3", "b.py": "2"}
        await files.forget_files(conn, "ws", "repo", ["b.py"])
        assert await files.indexed_files(conn, "ws", "repo") == {"a.py": "3"}
        assert await files.indexed_files(conn, "ws", "other") == {"a.py": "9"}
        assert await files.indexed_files(conn, "elsewhere", "repo") == {}


async def test_publishing_a_job_twice_queues_it_once(nats_url: str) -> None:
    import nats

    client = await nats.connect(nats_url)
    stream = client.jetstream()
    await messaging.ensure_stream(stream)
    await messaging.ensure_stream(stream)
    job_id = uuid.uuid4()
    await messaging.publish_job(stream, job_id, "codebase")
    await messaging.publish_job(stream, job_id, "codebase")
    await messaging.publish_job(stream, uuid.uuid4(), "document")
    info = await stream.stream_info(messaging.STREAM)
    assert info.state.messages == 2
    message = await stream.get_last_msg(messaging.STREAM, "ingest.codebase")
    assert messaging.job_id_of(message.data) == job_id
    await client.close()


def test_a_message_that_is_not_a_job_is_recognised() -> None:
    with pytest.raises(ValueError, match="not an ingest job message"):
        messaging.job_id_of(b"{not json")
    with pytest.raises(ValueError, match="not an ingest job message"):
        messaging.job_id_of(b'{"job_id": "not-a-uuid"}')
