"""The worker's Prometheus metrics, served on their own port (it has no HTTP server otherwise): jobs by
outcome, files by outcome, job durations, and a heartbeat while the consumer runs."""

from __future__ import annotations

import asyncio
import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.process_collector import ProcessCollector

from sparkctl.services.common import jobs

log = logging.getLogger(__name__)

JOB_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
"""Seconds: a document takes seconds, a large codebase an hour."""
HEARTBEAT_EVERY = 1.0


class WorkerMetrics:
    """One worker's metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.jobs = Counter(
            "sparkctl_worker_jobs_total",
            "Job deliveries handled, by outcome: completed, failed (for good), retried, gave_up (after max_deliver)",
            ["outcome"],
            registry=self.registry,
        )
        self.files = Counter(
            "sparkctl_worker_files_total",
            "Files of finished jobs, by outcome: indexed, unchanged, skipped, deleted",
            ["outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "sparkctl_worker_job_duration_seconds",
            "Time one delivery of a job ran, by outcome",
            ["outcome"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self.heartbeat = Gauge(
            "sparkctl_worker_heartbeat_timestamp_seconds",
            "Unix time the consumer loop last showed it was alive (every second while it runs)",
            registry=self.registry,
        )
        self._server: WSGIServer | None = None

    def job_done(self, outcome: str, seconds: float) -> None:
        self.jobs.labels(outcome).inc()
        self.duration.labels(outcome).observe(seconds)

    def files_of(self, job: jobs.Job) -> None:
        """Count the files of a finished job."""
        for outcome, count in (
            ("indexed", job.files_done),
            ("unchanged", job.files_unchanged),
            ("skipped", job.files_skipped),
            ("deleted", job.files_deleted),
        ):
            if count:
                self.files.labels(outcome).inc(count)

    async def beat(self) -> None:
        """Refresh the heartbeat until cancelled."""
        while True:
            self.heartbeat.set_to_current_time()
            await asyncio.sleep(HEARTBEAT_EVERY)

    def serve(self, host: str, port: int) -> None:
        """Serve the metrics at http://host:port/metrics from a thread; port 0 serves nothing. A port in use is
        logged and the worker runs without metrics."""
        if port == 0:
            return
        try:
            self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            log.warning("metrics not served: cannot listen on %s:%d (%s); set SPARKCTL_METRICS_PORT", host, port, exc)
            return
        log.info("metrics at http://%s:%d/metrics", host, port)

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
