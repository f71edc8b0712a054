"""The orchestrator's metrics: its requests and model calls (common.metrics), the memory tiers' lookups, and
gauges read at each scrape — ingest jobs by state (PostgreSQL), jobs waiting in the INGEST stream (NATS),
answered turns waiting in the outbox (Redis) and queued promotions.

A gauge whose server is down has no sample at that scrape, and `sparkctl_scrape_errors_total{source}` counts
the failure: /metrics answers either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import get_args

from fastapi import FastAPI
from prometheus_client import Counter, Gauge

from sparkctl.services.common import messaging
from sparkctl.services.common.jobs import JobStatus
from sparkctl.services.common.metrics import PROBE_TIMEOUT, Metrics
from sparkctl.services.orchestrator.memory.service import Memory
from sparkctl.services.orchestrator.resources import Resources

JOB_STATES: tuple[str, ...] = get_args(JobStatus)


class OrchestratorMetrics(Metrics):
    def __init__(self, app: FastAPI) -> None:
        super().__init__("orchestrator")
        self._app = app
        self.memory_lookups = Counter(
            "sparkctl_memory_lookups_total",
            "Memory tier lookups of chat requests by tier and status (hit, miss, timeout, down, skip, off)",
            ["tier", "status"],
            registry=self.registry,
        )
        Gauge(
            "sparkctl_memory_promotions_queued",
            "Sessions queued for a summary or archival (0 with memory off)",
            registry=self.registry,
        ).set_function(self._promotions)
        self.gauge(
            "sparkctl_ingest_jobs", "Ingest jobs by state, from PostgreSQL", source="postgres", read=self._jobs,
            label="state",
        )  # fmt: skip
        self.gauge(
            "sparkctl_ingest_queue_pending",
            "Jobs in the INGEST stream no worker has acknowledged yet (waiting or in progress)",
            source="nats",
            read=self._queue,
        )
        self.gauge(
            "sparkctl_memory_outbox_turns",
            "Answered turns waiting in Redis to be written to PostgreSQL",
            source="redis",
            read=self._outbox,
        )

    def count_lookups(self, statuses: Mapping[str, str]) -> None:
        """Count a chat request's lookups: tier → status, as Recollection.statuses holds them."""
        for tier, status in statuses.items():
            self.memory_lookups.labels(tier, status).inc()

    @property
    def _resources(self) -> Resources | None:
        """The connections, once the app's lifespan made them."""
        return getattr(self._app.state, "resources", None)

    @property
    def _memory(self) -> Memory | None:
        return getattr(self._app.state, "memory", None)

    def _promotions(self) -> float:
        memory = self._memory
        return float(memory.promotions.queued) if memory is not None else 0.0

    async def _jobs(self) -> dict[str, float] | None:
        resources = self._resources
        if resources is None:
            return None
        async with resources.pool.connection(timeout=PROBE_TIMEOUT) as conn:
            cursor = await conn.execute("SELECT status, count(*) FROM ingest_jobs GROUP BY status")
            rows = await cursor.fetchall()
        counts = dict.fromkeys(JOB_STATES, 0.0)
        counts.update({str(status): float(count) for status, count in rows})
        return counts

    async def _queue(self) -> float | None:
        resources = self._resources
        if resources is None:
            return None
        stream = await resources.nats.jetstream()
        info = await stream.stream_info(messaging.STREAM)
        return float(info.state.messages)

    async def _outbox(self) -> float | None:
        memory = self._memory
        if memory is None:
            return None
        return float(await memory.outbox.depth())
