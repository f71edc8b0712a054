"""The orchestrator's app factory: create_app(settings) builds everything; nothing lives at module level.
The API is under /v1, the web console's files under /ui (console/serving.py)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator

import httpx
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from sparkctl.catalog import load_catalog
from sparkctl.services.common.database import create_pool
from sparkctl.services.common.metrics import install_metrics
from sparkctl.services.common.schema import migrate
from sparkctl.services.orchestrator.auth import KeyRing, authenticate
from sparkctl.services.orchestrator.backends import Completions
from sparkctl.services.orchestrator.console.serving import install_console
from sparkctl.services.orchestrator.errors import install_error_handlers
from sparkctl.services.orchestrator.explorer import Explorer
from sparkctl.services.orchestrator.memory.factory import build_memory
from sparkctl.services.orchestrator.metrics import OrchestratorMetrics
from sparkctl.services.orchestrator.model_servers import ModelServers, server_urls
from sparkctl.services.orchestrator.resources import NatsLink, Resources
from sparkctl.services.orchestrator.routes import (
    chat,
    digests,
    graph,
    health,
    ingest,
    jobs,
    sessions,
    traces,
    workspaces,
)
from sparkctl.services.orchestrator.routing import Router
from sparkctl.services.orchestrator.settings import OrchestratorSettings
from sparkctl.services.orchestrator.traces import TraceStore, lost_traces_counter

log = logging.getLogger(__name__)


def create_app(settings: OrchestratorSettings) -> FastAPI:
    keys = KeyRing.from_settings(
        settings.api_keys.get_secret_value() if settings.api_keys else None, settings.api_keys_file
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from redis.asyncio import Redis

        if not keys.enabled:
            log.warning("no API keys configured (SPARKCTL_API_KEYS): every route is open to anyone who can reach it")
        pool = create_pool(settings.database_url, max_size=16, name="orchestrator", timeout=5.0)
        await pool.open(wait=False)
        with contextlib.suppress(Exception):
            async with pool.connection(timeout=10.0) as conn:
                await migrate(conn)
        redis = Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.llm_timeout, connect=5.0),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )
        nats = NatsLink(settings.nats_url)
        app.state.resources = Resources(pool=pool, redis=redis, nats=nats, http=http)
        calls = app.state.metrics.models
        app.state.completions = Completions(http, settings.llm_key, calls)
        app.state.model_servers = ModelServers(
            catalog, server_urls(catalog, settings), http, api_key=settings.llm_key, embedder=settings.embedder
        )
        app.state.memory = build_memory(settings, catalog, pool, redis, http, calls) if settings.memory else None
        app.state.traces = TraceStore(redis, settings.trace_ttl_seconds, traces_lost)
        app.state.explorer = Explorer(http, settings.lightrag_url, settings.service_key)
        if app.state.memory is not None:
            await app.state.memory.start()
        try:
            yield
        finally:
            if app.state.memory is not None:
                await app.state.memory.stop()
            await nats.close()
            await http.aclose()
            await redis.aclose()
            await pool.close()

    catalog = load_catalog(settings.models)
    app = FastAPI(title="sparkctl orchestrator", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.keys = keys
    app.state.router = Router(catalog, settings.llm_url, settings.model_urls)
    app.state.started = time.time()
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["*"], allow_headers=["*"]
        )
    for module in (health, chat, traces, sessions, ingest, jobs, digests, workspaces, graph):
        app.include_router(module.router)
    install_console(app)
    metrics = OrchestratorMetrics(app)
    traces_lost = lost_traces_counter(metrics.registry)
    install_metrics(app, metrics, host=settings.host, port=settings.metrics_port, dependencies=[Depends(authenticate)])
    return app
