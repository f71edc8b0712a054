"""/health (the process is up) and /ready (each server the orchestrator needs, named when down, and whether a
worker consumes ingest jobs: a fresh heartbeat in Redis; the model servers are reported, not required)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from sparkctl.services.common import heartbeat
from sparkctl.services.orchestrator.auth import authenticate
from sparkctl.services.orchestrator.model_servers import ModelServers
from sparkctl.services.orchestrator.resources import Resources, resources, where
from sparkctl.services.orchestrator.settings import OrchestratorSettings

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", dependencies=[Depends(authenticate)])
async def ready(
    request: Request,
    res: Resources = Depends(resources),
    serving: bool = Query(
        default=False,
        description="readiness to serve chat: the worker is reported but a missing heartbeat does not fail it "
        "(the chart's probe, so that a crashed worker does not take chat away); the model servers are left out",
    ),
) -> JSONResponse:
    settings: OrchestratorSettings = request.app.state.settings
    checks = {
        "postgres": (where(settings.database_url), _postgres(res)),
        "redis": (where(settings.redis_url), _redis(res)),
        "nats": (where(settings.nats_url), _nats(res)),
        "lightrag": (where(settings.lightrag_url), _lightrag(res, settings.lightrag_url)),
        "worker": (None, _worker(res)),
    }
    servers: ModelServers = request.app.state.model_servers
    models = None if serving else asyncio.ensure_future(servers.report())
    results = await asyncio.gather(
        *(_within(check, settings.readiness_timeout) for _, check in checks.values()), return_exceptions=False
    )
    report = {name: "up" if ok else "down" for name, ok in zip(checks, results, strict=True)}
    extra = {} if models is None else {"models": [state.to_json() for state in (await models).values()]}
    down = [
        _down(name, checks[name][0])
        for name, ok in zip(checks, results, strict=True)
        if not ok and not (serving and name == "worker")
    ]
    if down:
        body = {
            "status": "not ready",
            "services": report,
            **extra,
            "error": {"message": "unavailable: " + ", ".join(down), "type": "api_error", "code": "not_ready"},
        }
        return JSONResponse(body, 503)
    return JSONResponse({"status": "ready", "services": report, **extra})


def _down(name: str, address: str | None) -> str:
    return f"{name} at {address}" if address else f"{name} (no fresh heartbeat in Redis)"


async def _within(check: Awaitable[None], timeout: float) -> bool:
    try:
        await asyncio.wait_for(check, timeout)
    except Exception:
        return False
    return True


async def _postgres(res: Resources) -> None:
    async with res.pool.connection() as conn:
        await conn.execute("SELECT 1")


async def _redis(res: Resources) -> None:
    await res.redis.ping()


async def _nats(res: Resources) -> None:
    await res.nats.jetstream()


async def _lightrag(res: Resources, url: str) -> None:
    response = await res.http.get(f"{url}/health")
    response.raise_for_status()


async def _worker(res: Resources) -> None:
    if await heartbeat.live_workers(res.redis) == 0:
        raise LookupError("no worker has a fresh heartbeat")
