"""The JetStream side of the worker: pull jobs, keep them alive while they run, settle each delivery.

- A message that is not a job, or names no known job, is terminated: it would never succeed.
- While a job runs, `in_progress()` heartbeats stop JetStream from redelivering it to another worker.
- A job whose worker died is redelivered after `ack_wait` and finishes there (job steps are idempotent).
- A passing failure (a server down) is retried after a back-off, until `max_deliver`; a permanent one
  (a hostile archive) fails the job at once with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sparkctl.errors import ServiceUnavailable, SparkctlError
from sparkctl.services.common import jobs, messaging
from sparkctl.services.worker.metrics import WorkerMetrics
from sparkctl.services.worker.settings import WorkerSettings

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)


JobRunner = Callable[[jobs.Job], Awaitable[None]]


class JobConsumer:
    """Settles each delivery of an ingest job according to what running it did, and counts it in `metrics`."""

    def __init__(
        self,
        settings: WorkerSettings,
        pool: AsyncConnectionPool,
        run_job: JobRunner,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.run_job = run_job
        self.metrics = metrics or WorkerMetrics()

    async def handle(self, msg: Msg) -> None:
        try:
            job_id = messaging.job_id_of(msg.data)
        except ValueError as exc:
            log.warning("terminating a message that is not a job: %s", exc)
            await msg.term()
            return
        delivered = msg.metadata.num_delivered or 1
        try:
            async with self.pool.connection() as conn:
                job = await jobs.start_attempt(conn, job_id)
        except Exception as exc:
            log.warning("job %s: database unavailable (%s); retrying later", job_id, exc)
            await msg.nak(delay=self.settings.retry_delay(delivered))
            return
        if job is None:
            log.warning("terminating job %s: no such job", job_id)
            await msg.term()
            return
        await self._run(msg, job, delivered)

    async def _run(self, msg: Msg, job: jobs.Job, delivered: int) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(msg))
        started = time.monotonic()
        try:
            await self.run_job(job)
        except ServiceUnavailable as exc:
            await self._retry_or_give_up(msg, job.id, delivered, exc, started)
            return
        except SparkctlError as exc:
            log.info("job %s failed: %s", job.id, exc.message)
            self.metrics.job_done("failed", time.monotonic() - started)
            await self._finish(job.id, error=exc.message)
            await msg.ack()
            return
        except Exception as exc:
            log.exception("job %s failed unexpectedly", job.id)
            await self._retry_or_give_up(msg, job.id, delivered, exc, started)
            return
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        self.metrics.job_done("completed", time.monotonic() - started)
        await self._finish(job.id)
        await msg.ack()

    async def _retry_or_give_up(
        self, msg: Msg, job_id: uuid.UUID, delivered: int, exc: Exception, started: float
    ) -> None:
        reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        if delivered >= self.settings.max_deliver:
            log.warning("job %s: giving up after %d attempts: %s", job_id, delivered, reason)
            self.metrics.job_done("gave_up", time.monotonic() - started)
            await self._finish(job_id, error=f"gave up after {delivered} attempts: {reason}")
            await msg.term()
            return
        self.metrics.job_done("retried", time.monotonic() - started)
        delay = self.settings.retry_delay(delivered)
        log.info("job %s: attempt %d failed (%s); retrying in %.0f s", job_id, delivered, reason, delay)
        with contextlib.suppress(Exception):
            async with self.pool.connection() as conn:
                await jobs.update_progress(conn, job_id, status="queued")
        await msg.nak(delay=delay)

    async def _finish(self, job_id: uuid.UUID, error: str | None = None) -> None:
        async with self.pool.connection() as conn:
            await jobs.finish_job(conn, job_id, error=error)
            finished = await jobs.get_job(conn, job_id)
        if finished is not None:
            self.metrics.files_of(finished)

    async def _heartbeat(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval)
            with contextlib.suppress(Exception):
                await msg.in_progress()


async def consume(
    settings: WorkerSettings,
    pool: AsyncConnectionPool,
    run_job: JobRunner,
    stop: asyncio.Event,
    metrics: WorkerMetrics | None = None,
) -> None:
    """Pull and handle jobs until `stop` is set, riding out NATS restarts; the heartbeat in `metrics` beats
    meanwhile."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig

    client = await nats.connect(
        settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, name=settings.consumer
    )
    consumer = JobConsumer(settings, pool, run_job, metrics)
    in_flight: set[asyncio.Task[None]] = set()
    slots = asyncio.Semaphore(settings.concurrency)
    heartbeat = asyncio.create_task(consumer.metrics.beat())
    try:
        stream = client.jetstream()
        subscription = None
        while not stop.is_set():
            try:
                if subscription is None:
                    await messaging.ensure_stream(stream)
                    subscription = await stream.pull_subscribe(
                        messaging.SUBJECT_FILTER,
                        durable=settings.consumer,
                        stream=messaging.STREAM,
                        config=ConsumerConfig(
                            ack_policy=AckPolicy.EXPLICIT,
                            ack_wait=settings.ack_wait,
                            max_deliver=settings.max_deliver,
                        ),
                    )
                await slots.acquire()
                try:
                    messages = await subscription.fetch(1, timeout=1.0)
                except BaseException:
                    slots.release()
                    raise
                task = asyncio.create_task(consumer.handle(messages[0]))
                in_flight.add(task)
                task.add_done_callback(lambda done: (in_flight.discard(done), slots.release()))
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except Exception as exc:
                log.warning("JetStream unavailable (%s); retrying", exc)
                subscription = None
                await asyncio.sleep(0.5)
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
    finally:
        heartbeat.cancel()
        for task in in_flight:
            task.cancel()
        await client.close()
