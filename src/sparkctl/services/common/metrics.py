"""Prometheus metrics of a service: one registry per app, requests by route template, model calls, and gauges
read when /metrics is scraped.

Every label holds a bounded set of values (route templates, methods, status codes, model names from
models.toml, outcomes): never a raw path, a workspace, a session or a key. GET /metrics on the service's own
port needs the same key as its other routes (that port is a NodePort, reachable from outside the cluster);
with SPARKCTL_METRICS_PORT set, the same metrics are also served without a key on that port, which only the
pod network reaches, for Prometheus to scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

UNMATCHED = "other"
"""The route label of a request no route matched (a 404, or one refused before routing)."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Seconds; a streamed chat answer is timed to its last byte, hence the long tail."""
PROBE_TIMEOUT = 2.0
"""Seconds a gauge read at scrape time may take before the scrape answers without it."""

ModelCallKind = Literal["chat", "stream", "embed", "rerank"]
ModelOutcome = Literal["ok", "refused", "failed", "timeout", "unreachable", "cancelled"]
Reading = Callable[[], Awaitable[float | Mapping[str, float] | None]]
"""A gauge's value(s) now: one number, numbers by label value, or None when there is nothing to report."""
Lifespan = Callable[[Any], contextlib.AbstractAsyncContextManager[Any]]


class ModelCalls:
    """Requests to model servers by backend (the model's name as its server is asked for it), kind and outcome,
    and the tokens the servers reported."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "sparkctl_model_requests_total",
            "Requests to model servers by backend, kind (chat, stream, embed, rerank) and outcome",
            ["backend", "kind", "outcome"],
            registry=registry,
        )
        self.tokens = Counter(
            "sparkctl_model_tokens_total",
            "Tokens model servers reported using, by backend and direction (prompt, completion)",
            ["backend", "direction"],
            registry=registry,
        )

    def record(
        self, backend: str, kind: ModelCallKind, outcome: ModelOutcome, *, prompt: int = 0, completion: int = 0
    ) -> None:
        self.requests.labels(backend, kind, outcome).inc()
        if prompt > 0:
            self.tokens.labels(backend, "prompt").inc(prompt)
        if completion > 0:
            self.tokens.labels(backend, "completion").inc(completion)


class _ScrapedGauge:
    """A gauge read when /metrics is scraped; without a value (its read failed, or had nothing) it has no sample."""

    def __init__(self, name: str, documentation: str, source: str, label: str | None, read: Reading) -> None:
        self.name = name
        self.documentation = documentation
        self.source = source
        self.label = label
        self.read = read
        self.value: float | Mapping[str, float] | None = None

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self.name, self.documentation, labels=[self.label] if self.label else None)

    def collect(self) -> Iterator[Metric]:
        value = self.value
        if value is None:
            return
        if isinstance(value, Mapping):
            family = GaugeMetricFamily(self.name, self.documentation, labels=[self.label or "key"])
            for key, number in sorted(value.items()):
                family.add_metric([str(key)], float(number))
            yield family
        else:
            yield GaugeMetricFamily(self.name, self.documentation, value=float(value))


class Metrics:
    """One service's metrics in a registry of its own, so that apps in one process never share counts."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.http_requests = Counter(
            "sparkctl_http_requests_total",
            "HTTP requests by service, method, route template and status",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "sparkctl_http_request_duration_seconds",
            "Time from a request's arrival to its response's last byte",
            ["service", "method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.models = ModelCalls(self.registry)
        self.scrape_errors = Counter(
            "sparkctl_scrape_errors_total",
            "Gauges that could not be read at a scrape, by the server they come from",
            ["source"],
            registry=self.registry,
        )
        self._gauges: list[_ScrapedGauge] = []

    def gauge(self, name: str, documentation: str, *, source: str, read: Reading, label: str | None = None) -> None:
        """A gauge read from `source` (postgres, redis, nats…) at each scrape, within PROBE_TIMEOUT."""
        gauge = _ScrapedGauge(name, documentation, source, label, read)
        self.registry.register(gauge)
        self._gauges.append(gauge)
        self.scrape_errors.labels(source)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (self.service, method if method in METHODS else "other", route, str(status))
        self.http_requests.labels(*labels).inc()
        self.http_duration.labels(*labels).observe(seconds)

    async def exposition(self) -> bytes:
        """The text format, with every scrape-time gauge read first (a failed read counts a scrape error)."""
        await self.refresh()
        return generate_latest(self.registry)

    async def refresh(self) -> None:
        """Read every scrape-time gauge."""
        readings = await asyncio.gather(*(self._read(gauge) for gauge in self._gauges))
        for gauge, value in zip(self._gauges, readings, strict=True):
            gauge.value = value

    async def _read(self, gauge: _ScrapedGauge) -> float | Mapping[str, float] | None:
        try:
            return await asyncio.wait_for(gauge.read(), PROBE_TIMEOUT)
        except Exception as exc:
            log.debug("metrics: %s could not be read from %s: %r", gauge.name, gauge.source, exc)
            self.scrape_errors.labels(gauge.source).inc()
            return None


class RequestMetrics:
    """ASGI middleware counting and timing each HTTP request under its route template (`/v1/jobs/{job_id}`)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe_request(scope["method"], route_of(scope), status, time.perf_counter() - started)


def route_of(scope: Scope) -> str:
    """The template of the route that handled the request, or UNMATCHED."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else UNMATCHED


def install_metrics(
    app: FastAPI, metrics: Metrics, *, host: str = "127.0.0.1", port: int = 0, dependencies: Sequence[Any] = ()
) -> None:
    """Count the app's requests and serve GET /metrics (with `dependencies`, the app's authentication), and,
    while the app runs, the same without a key on `port` (0: not served); the metrics go to app.state.metrics."""
    app.state.metrics = metrics

    async def exposition(request: Request) -> Response:
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", exposition, methods=["GET"], include_in_schema=False, dependencies=list(dependencies))
    app.add_middleware(RequestMetrics, metrics=metrics)
    if port:
        app.router.lifespan_context = _serving_port(app.router.lifespan_context, metrics, host, port)


def _serving_port(lifespan: Lifespan, metrics: Metrics, host: str, port: int) -> Lifespan:
    """The app's lifespan, with the metrics port open while it runs."""

    @contextlib.asynccontextmanager
    async def serving(app: Any) -> AsyncIterator[Any]:
        server, _ = start_http_server(port, addr=host, registry=_Refreshed(metrics, asyncio.get_running_loop()))
        log.info("metrics at http://%s:%d/metrics", host, port)
        try:
            async with lifespan(app) as state:
                yield state
        finally:
            server.shutdown()
            server.server_close()

    return serving


class _Refreshed:
    """The registry as the metrics port's thread scrapes it: the scrape-time gauges are read on the app's event
    loop first."""

    def __init__(self, metrics: Metrics, loop: asyncio.AbstractEventLoop) -> None:
        self.metrics = metrics
        self.loop = loop

    def collect(self) -> Iterator[Metric]:
        refreshed = asyncio.run_coroutine_threadsafe(self.metrics.refresh(), self.loop)
        try:
            refreshed.result(PROBE_TIMEOUT + 1)
        except Exception as exc:
            log.debug("metrics: gauges not refreshed for a scrape of the metrics port: %r", exc)
        return self.metrics.registry.collect()
