"""`/health`: the process is up. `/ready`: the stores and the model servers it needs answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from sparkctl.errors import SparkctlError
from sparkctl.services.lightrag.backends import probe_neo4j, probe_postgres
from sparkctl.services.lightrag.dependencies import get_settings
from sparkctl.services.lightrag.engine import Models
from sparkctl.services.lightrag.settings import LightragSettings

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", response_model=None)
async def ready(request: Request, settings: LightragSettings = Depends(get_settings)) -> JSONResponse:
    """200 when every dependency answers; 503 naming the first that does not, with every check's result. The
    reranker is reported and needed by none: queries go on without it."""
    models: Models = request.app.state.models
    checks: dict[str, Awaitable[None]] = {"postgres": probe_postgres(settings), "llm": models.llm.ping()}
    if models.embedder is not None and models.embedder.url != models.llm.url:
        checks["embeddings"] = models.embedder.ping()
    if settings.graph_storage == "neo4j":
        checks["neo4j"] = probe_neo4j(settings)
    optional = {"reranker": models.reranker.ping()} if models.reranker is not None else {}
    outcomes = await asyncio.gather(*checks.values(), *optional.values(), return_exceptions=True)
    results = dict(zip([*checks, *optional], outcomes, strict=True))
    report = {name: "ok" if outcome is None else str(outcome) for name, outcome in results.items()}
    failures = [outcome for name, outcome in results.items() if name in checks and isinstance(outcome, BaseException)]
    if not failures:
        return JSONResponse({"status": "ready", "checks": report})
    first = failures[0]
    if not isinstance(first, SparkctlError):
        raise first
    message = "; ".join(str(failure) for failure in failures)
    return JSONResponse(
        {"error": {"message": message, "type": "backend_unavailable", "code": "not_ready"}, "checks": report},
        status_code=503,
    )
