"""Settings of the ingest worker."""

from __future__ import annotations

from pydantic import Field, model_validator

from sparkctl.services.common.settings import ServiceSettings, Url
from sparkctl.services.worker.archive import DEFAULT_LIMITS


class WorkerSettings(ServiceSettings):
    database_url: str
    nats_url: Url = "nats://127.0.0.1:4222"
    preprocessor_url: Url = "http://127.0.0.1:8090"
    lightrag_url: Url = "http://127.0.0.1:9621"
    redis_url: str | None = Field(
        default=None, description="where the worker publishes its heartbeat for the orchestrator's /ready; unset: none"
    )
    heartbeat_ttl: float = Field(default=15.0, gt=0, description="seconds a heartbeat stays fresh in Redis")
    heartbeat_every: float = Field(default=5.0, gt=0, description="seconds between two heartbeats")
    consumer: str = Field(default="ingest-worker", description="durable JetStream consumer name")
    concurrency: int = Field(default=2, ge=1, description="jobs processed at once")
    ack_wait: float = Field(default=60.0, gt=0, description="seconds before an unacknowledged job is redelivered")
    max_deliver: int = Field(default=5, ge=1, description="deliveries before a job is given up")
    retry_backoff: tuple[float, ...] = Field(default=(5.0, 15.0, 60.0, 300.0), description="delays between retries")
    max_files: int = Field(
        default=DEFAULT_LIMITS.max_files,
        ge=1,
        description="regular files an archive may hold (the Linux kernel: 90 000)",
    )
    max_file_bytes: int = Field(
        default=DEFAULT_LIMITS.max_file_bytes, ge=1, description="larger files are skipped, not refused"
    )
    max_total_bytes: int = Field(
        default=DEFAULT_LIMITS.max_total_bytes, ge=1, description="bytes an archive may hold once decompressed"
    )
    batch_files: int = Field(default=200, ge=1, description="files sent to the preprocessor per request")
    parse_ahead: int = Field(default=2, ge=1, description="requests to the preprocessor in flight at once")
    insert_files: int = Field(default=500, ge=1, description="code files stored in LightRAG per insert")
    insert_ahead: int = Field(default=2, ge=1, description="inserts sent to LightRAG at once")
    insert_records: int = Field(
        default=20_000,
        ge=1,
        description="chunks, entities and relationships stored in LightRAG per insert at most (a single larger file "
        "goes alone): what one request costs LightRAG's memory",
    )
    graph_commit_seconds: float = Field(
        default=300.0,
        gt=0,
        description="how often LightRAG is asked to write its graph (a GraphML file of the whole graph in the local "
        "stack) during a job, and the files it holds recorded as indexed; it is also asked at the end of each job",
    )
    request_timeout: float = 300.0
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Prometheus metrics on host:port, its only port (the chart: 9100); 0: none",
    )

    @model_validator(mode="after")
    def _beats_within_ttl(self) -> WorkerSettings:
        if self.heartbeat_every >= self.heartbeat_ttl:
            raise ValueError("heartbeat_every must be shorter than heartbeat_ttl, or heartbeats lapse between beats")
        return self

    @property
    def heartbeat_interval(self) -> float:
        """How often a running job tells JetStream it is alive: well inside ack_wait."""
        return max(0.5, self.ack_wait / 3)

    def retry_delay(self, delivered: int) -> float:
        """Back-off before the next delivery of a job that failed for a passing reason."""
        index = min(max(delivered - 1, 0), len(self.retry_backoff) - 1)
        return self.retry_backoff[index]
