"""How the worker settles job deliveries, on real NATS JetStream and PostgreSQL.

The job runner here is scripted (it sleeps, fails or succeeds on demand); the pipeline it stands for
is tested on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from prometheus_client import generate_latest
from psycopg_pool import AsyncConnectionPool

from sparkctl.errors import ArchiveError, ServiceUnavailable
from sparkctl.local.process import free_port
from sparkctl.services.common import jobs, messaging
from sparkctl.services.common.database import create_pool
from sparkctl.services.common.schema import migrate
from sparkctl.services.worker.consumer import consume
from sparkctl.services.worker.metrics import WorkerMetrics
from sparkctl.services.worker.service import run_worker
from sparkctl.services.worker.settings import WorkerSettings
from support.metrics import by_label, samples, value

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    async with create_pool(database_url, max_size=4) as opened:
        async with opened.connection() as conn:
            await migrate(conn)
        yield opened


def settings_for(database_url: str, nats_url: str, **overrides: object) -> WorkerSettings:
    values = {"ack_wait": 1.0, "max_deliver": 3, "retry_backoff": (0.2,), "concurrency": 2} | overrides
    return WorkerSettings(database_url=database_url, nats_url=nats_url, **values)  # type: ignore[arg-type]


async def queue_job(pool: AsyncConnectionPool, nats_url: str, name: str = "a.md") -> jobs.Job:
    import nats

    async with pool.connection() as conn:
        document = await jobs.store_document(conn, workspace="ws", name=name, content_type="text/markdown", data=b"#")
        job = await jobs.create_job(conn, document=document, kind="document", source=name)
    client = await nats.connect(nats_url)
    await messaging.ensure_stream(client.jetstream())
    await messaging.publish_job(client.jetstream(), job.id, "document")
    await client.close()
    return job


async def publish_raw(nats_url: str, payload: bytes) -> None:
    import nats

    client = await nats.connect(nats_url)
    await messaging.ensure_stream(client.jetstream())
    await client.jetstream().publish("ingest.document", payload)
    await client.close()


@contextlib.asynccontextmanager
async def worker(
    settings: WorkerSettings,
    pool: AsyncConnectionPool,
    run_job: Callable[[jobs.Job], Awaitable[None]],
    metrics: WorkerMetrics | None = None,
) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(consume(settings, pool, run_job, stop, metrics))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def wait_for_job(pool: AsyncConnectionPool, job_id: object, predicate: Callable[[jobs.Job], bool]) -> jobs.Job:
    for _ in range(200):
        async with pool.connection() as conn:
            job = await jobs.get_job(conn, job_id)  # type: ignore[arg-type]
        if job is not None and predicate(job):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job never reached the expected state: {job}")


async def stream_messages(nats_url: str) -> int:
    import nats

    client = await nats.connect(nats_url)
    info = await client.jetstream().stream_info(messaging.STREAM)
    await client.close()
    return info.state.messages


async def test_a_job_that_succeeds_is_completed_and_removed_from_the_queue(
    pool: AsyncConnectionPool, database_url: str, nats_url: str
) -> None:
    seen: list[str] = []

    async def run(job: jobs.Job) -> None:
        seen.append(job.status)

    job = await queue_job(pool, nats_url)
    async with worker(settings_for(database_url, nats_url), pool, run):
        done = await wait_for_job(pool, job.id, lambda j: j.finished)
    assert (done.status, done.attempts, done.error) == ("completed", 1, None)
    assert seen == ["started"]
    assert await stream_messages(nats_url) == 0


async def test_a_hostile_archive_fails_the_job_at_once_with_the_reason(
    pool: AsyncConnectionPool, database_url: str, nats_url: str
) -> None:
    async def run(job: jobs.Job) -> None:
        raise ArchiveError("refused archive: member '../../etc/passwd' escapes the archive")

    job = await queue_job(pool, nats_url)
    async with worker(settings_for(database_url, nats_url), pool, run):
        done = await wait_for_job(pool, job.id, lambda j: j.finished)
    assert (done.status, done.attempts) == ("failed", 1)
    assert done.error == "refused archive: member '../../etc/passwd' escapes the archive"


async def test_a_passing_failure_is_retried_after_a_back_off_and_then_succeeds(
    pool: AsyncConnectionPool, database_url: str, nats_url: str
) -> None:
    attempts: list[float] = []

    async def run(job: jobs.Job) -> None:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) < 3:
            raise ServiceUnavailable("LightRAG at http://127.0.0.1:9 is unreachable")

    job = await queue_job(pool, nats_url)
    async with worker(settings_for(database_url, nats_url, retry_backoff=(0.3,)), pool, run):
        done = await wait_for_job(pool, job.id, lambda j: j.finished)
    assert (done.status, done.attempts) == ("completed", 3)
    assert attempts[1] - attempts[0] >= 0.25


async def test_a_job_failing_every_time_is_given_up_after_max_deliver(
    pool: AsyncConnectionPool, database_url: str, nats_url: str
) -> None:
    async def run(job: jobs.Job) -> None:
        raise ServiceUnavailable("preprocessor at http://127.0.0.1:9 is unreachable")

    job = await queue_job(pool, nats_url)
    async with worker(settings_for(database_url, nats_url, max_deliver=2), pool, run):
        done = await wait_for_job(pool, job.id, lambda j: j.finished)
    assert (done.status, done.attempts) == ("failed", 2)
    assert done.error == "gave up after 2 attempts: preprocessor at http://127.0.0.1:9 is unreachable"
    assert await stream_messages(nats_url) == 0


async def test_poison_messages_are_terminated_not_retried(
    pool: AsyncConnectionPool, database_url: str, nats_url: str
) -> None:
    calls: list[jobs.Job] = []

    async def run(job: jobs.Job) -> None:
        calls.append(job)

    await publish_raw(nats_url, b"{not json")
    await publish_raw(nats_url, b'{"job_id": "5f0c8f8e-3a1b-4c52-9a5e-2d3c4b5a6f70"}')
    job = await queue_job(pool, nats_url)
    async with worker(settings_for(database_url, nats_url), pool, run):
        await wait_for_job(pool, job.id, lambda j: j.finished)
        await asyncio.sleep(0.3)
    assert [j.id for j in calls] == [job.id]
    assert await stream_messages(nats_url) == 0


async def test_a_slow_job_is_kept_alive_by_heartbeats_and_never_redelivered(
    pool: AsyncConnectionPool, database_url: str, nats_url: str
) -> None:
    runs: list[int] = []

    async def run(job: jobs.Job) -> None:
        runs.append(1)
        await asyncio.sleep(2.5)

    job = await queue_job(pool, nats_url)
    async with worker(settings_for(database_url, nats_url, ack_wait=1.0), pool, run):
        done = await wait_for_job(pool, job.id, lambda j: j.finished)
    assert done.status == "completed"
    assert len(runs) == 1 and done.attempts == 1


async def test_a_job_whose_worker_died_is_redelivered_and_finishes(
    pool: AsyncConnectionPool, database_url: str, nats_url: str
) -> None:
    async def hang(job: jobs.Job) -> None:
        await asyncio.sleep(3600)

    job = await queue_job(pool, nats_url)
    settings = settings_for(database_url, nats_url, ack_wait=1.0)
    dying = asyncio.create_task(consume(settings.model_copy(update={"ack_wait": 1.0}), pool, hang, asyncio.Event()))
    await wait_for_job(pool, job.id, lambda j: j.status == "started")
    dying.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await dying

    async def finish(job: jobs.Job) -> None:
        return None

    async with worker(settings, pool, finish):
        done = await wait_for_job(pool, job.id, lambda j: j.finished)
    assert (done.status, done.attempts) == ("completed", 2)


async def test_the_worker_rides_out_a_nats_restart(
    pool: AsyncConnectionPool, database_url: str, nats_url: str, nats_server: object, running: None
) -> None:
    done_jobs: list[object] = []

    async def run(job: jobs.Job) -> None:
        done_jobs.append(job.id)

    async with worker(settings_for(database_url, nats_url), pool, run):
        first = await queue_job(pool, nats_url)
        await wait_for_job(pool, first.id, lambda j: j.finished)
        await asyncio.to_thread(nats_server.process.restart)  # type: ignore[attr-defined]
        second = await queue_job(pool, nats_url)
        done = await wait_for_job(pool, second.id, lambda j: j.finished)
    assert done.status == "completed"
    assert done_jobs == [first.id, second.id]


async def test_the_worker_rides_out_a_postgres_restart(
    pool: AsyncConnectionPool, database_url: str, nats_url: str, postgres_server: object, running: None
) -> None:
    async def run(job: jobs.Job) -> None:
        return None

    async with worker(settings_for(database_url, nats_url, retry_backoff=(0.3,)), pool, run):
        first = await queue_job(pool, nats_url)
        await wait_for_job(pool, first.id, lambda j: j.finished)
        await asyncio.to_thread(postgres_server.process.restart)  # type: ignore[attr-defined]
        second = await queue_job(pool, nats_url)
        done = await wait_for_job(pool, second.id, lambda j: j.finished)
    assert done.status == "completed"


async def test_jobs_files_and_durations_are_counted_by_outcome(
    pool: AsyncConnectionPool, database_url: str, nats_url: str
) -> None:
    metrics = WorkerMetrics()
    attempts: list[int] = []

    async def run(job: jobs.Job) -> None:
        if job.source == "hostile.md":
            raise ArchiveError("refused archive: member '../x' escapes the archive")
        attempts.append(1)
        if len(attempts) == 1:
            raise ServiceUnavailable("LightRAG at http://127.0.0.1:9 is unreachable")
        async with pool.connection() as conn:
            await jobs.update_progress(conn, job.id, files_total=4, files_done=2, files_unchanged=1, files_skipped=1)

    good = await queue_job(pool, nats_url)
    async with worker(settings_for(database_url, nats_url), pool, run, metrics):
        await wait_for_job(pool, good.id, lambda j: j.finished)
    hostile = await queue_job(pool, nats_url, name="hostile.md")
    async with worker(settings_for(database_url, nats_url), pool, run, metrics):
        await wait_for_job(pool, hostile.id, lambda j: j.finished)

    text = generate_latest(metrics.registry).decode()
    assert by_label(text, "sparkctl_worker_jobs_total", "outcome") == {"retried": 1.0, "completed": 1.0, "failed": 1.0}
    assert by_label(text, "sparkctl_worker_job_duration_seconds_count", "outcome") == {
        "retried": 1.0,
        "completed": 1.0,
        "failed": 1.0,
    }
    files = by_label(text, "sparkctl_worker_files_total", "outcome")
    assert files == {"indexed": 2.0, "unchanged": 1.0, "skipped": 1.0}
    assert time.time() - value(text, "sparkctl_worker_heartbeat_timestamp_seconds") < 5


async def test_the_worker_serves_its_metrics_on_its_port_until_it_stops(
    pool: AsyncConnectionPool, database_url: str, nats_url: str
) -> None:
    port = free_port()
    settings = settings_for(
        database_url,
        nats_url,
        host="127.0.0.1",
        metrics_port=port,
        preprocessor_url=f"http://127.0.0.1:{free_port()}",
        lightrag_url=f"http://127.0.0.1:{free_port()}",
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(settings, stop))
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            text = ""
            for _ in range(100):
                with contextlib.suppress(httpx.TransportError):
                    response = await http.get(f"http://127.0.0.1:{port}/metrics")
                    text = response.text
                    if response.status_code == 200 and samples(text, "sparkctl_worker_heartbeat_timestamp_seconds"):
                        break
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)

    assert time.time() - value(text, "sparkctl_worker_heartbeat_timestamp_seconds") < 5
    assert samples(text, "process_resident_memory_bytes")
    async with httpx.AsyncClient(timeout=2) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/metrics")
