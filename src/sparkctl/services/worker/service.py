"""The ingest worker process: connections, migrations, and the consumer loop until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import httpx

from sparkctl.services.common.database import create_pool
from sparkctl.services.common.remote import LightragClient, PreprocessorClient
from sparkctl.services.common.schema import migrate
from sparkctl.services.worker.consumer import consume
from sparkctl.services.worker.pipeline import IngestPipeline
from sparkctl.services.worker.settings import WorkerSettings

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
        pipeline = IngestPipeline(
            settings,
            pool,
            PreprocessorClient(http, settings.preprocessor_url, settings.service_key),
            LightragClient(http, settings.lightrag_url, settings.service_key),
        )
        try:
            log.info("worker consuming %s as %s", settings.nats_url.rsplit("@", 1)[-1], settings.consumer)
            await consume(settings, pool, pipeline, stop)
        finally:
            await pool.close()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop
