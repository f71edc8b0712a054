"""GET /v1/chat/completions/{completion_id}/trace: what memory gave an answer, tier by tier, and its backend."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from redis.exceptions import RedisError

from sparkctl.services.orchestrator.auth import Caller, authenticate
from sparkctl.services.orchestrator.errors import ApiError
from sparkctl.services.orchestrator.resources import where
from sparkctl.services.orchestrator.traces import TraceStore

router = APIRouter(tags=["chat"])

COMPLETION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@router.get("/v1/chat/completions/{completion_id}/trace")
async def completion_trace(
    completion_id: str, request: Request, caller: Caller = Depends(authenticate)
) -> dict[str, Any]:
    """404 `trace_not_found` alike for an unknown or expired answer and for one of a workspace the key may not
    use: a key learns nothing of other workspaces' answers."""
    traces: TraceStore = request.app.state.traces
    try:
        trace = await traces.load(completion_id) if COMPLETION_ID.match(completion_id) else None
    except RedisError as exc:
        redis = where(request.app.state.settings.redis_url)
        raise ApiError(
            503, f"Redis at {redis}, which keeps the traces, is unreachable ({type(exc).__name__})", "redis_unavailable"
        ) from None
    if trace is None or not caller.allows(str(trace.get("workspace"))):
        raise ApiError(404, f"no memory trace of answer '{completion_id[:128]}'", "trace_not_found")
    return trace
