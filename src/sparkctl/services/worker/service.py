"""The ingest worker process: connections, migrations, the heartbeat, and the consumer loop until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx

from sparkctl.catalog import load_catalog
from sparkctl.services.common import heartbeat
from sparkctl.services.common.database import create_pool
from sparkctl.services.common.jobs import Job
from sparkctl.services.common.remote import LightragClient, PreprocessorClient
from sparkctl.services.common.schema import migrate
from sparkctl.services.worker.consumer import JobRunner, consume
from sparkctl.services.worker.digest import DigestPipeline, DigestSettings
from sparkctl.services.worker.metrics import WorkerMetrics
from sparkctl.services.worker.pipeline import IngestPipeline
from sparkctl.services.worker.settings import WorkerSettings

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


async def run_worker(settings: WorkerSettings, stop: asyncio.Event | None = None) -> None:
    """Consume ingest jobs until `stop` is set (or SIGTERM/SIGINT when run as the process's main loop)."""
    stop = stop or _stop_on_signals()
    pool = create_pool(settings.database_url, max_size=4, name="worker")
    await pool.open(wait=False)
    async with pool.connection(timeout=60.0) as conn:
        await migrate(conn)
    timeout = httpx.Timeout(settings.request_timeout, connect=5.0)
    async with httpx.AsyncClient(timeout=timeout) as http:
        lightrag = LightragClient(http, settings.lightrag_url, settings.service_key)
        pipeline = by_kind(
            IngestPipeline(
                settings, pool, PreprocessorClient(http, settings.preprocessor_url, settings.service_key), lightrag
            ),
            DigestPipeline(DigestSettings(), load_catalog(settings.models), pool, http, lightrag),
        )
        metrics = WorkerMetrics()
        metrics.serve(settings.host, settings.metrics_port)
        try:
            async with _heartbeat(settings):
                log.info("worker consuming %s as %s", settings.nats_url.rsplit("@", 1)[-1], settings.consumer)
                await consume(settings, pool, pipeline, stop, metrics)
        finally:
            metrics.close()
            await pool.close()


def by_kind(ingest: JobRunner, digest: JobRunner) -> JobRunner:
    """The pipeline of each job: digests apart, documents and codebases through ingest."""

    async def run(job: Job) -> None:
        await (digest if job.kind == "digest" else ingest)(job)

    return run


@contextlib.asynccontextmanager
async def _heartbeat(settings: WorkerSettings) -> AsyncIterator[None]:
    """While the body runs, refresh this worker's heartbeat in Redis (when it has one); leave on a clean stop."""
    if settings.redis_url is None:
        yield
        return
    from redis.asyncio import Redis

    redis = Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    instance = heartbeat.instance_name(settings.consumer)
    task = asyncio.create_task(_beat_forever(redis, instance, settings))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(Exception):
            await heartbeat.leave(redis, instance)
        await redis.aclose()


async def _beat_forever(redis: Redis, instance: str, settings: WorkerSettings) -> None:
    failing = False
    while True:
        try:
            await heartbeat.beat(redis, instance, settings.heartbeat_ttl)
            if failing:
                log.info("heartbeat in Redis restored")
            failing = False
        except Exception as exc:
            if not failing:
                log.warning("cannot write the heartbeat to Redis (%s); the orchestrator reports the worker down", exc)
            failing = True
        await asyncio.sleep(settings.heartbeat_every)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop
