"""GET /v1/sessions, GET and DELETE /v1/sessions/{id}: a workspace's chat sessions and their memory."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Depends, Query, Request

from sparkctl.services.orchestrator.auth import Caller, authenticate, request_workspace, require_workspace
from sparkctl.services.orchestrator.errors import ApiError
from sparkctl.services.orchestrator.memory import sessions
from sparkctl.services.orchestrator.memory.service import Memory
from sparkctl.services.orchestrator.resources import Resources, resources, where
from sparkctl.services.orchestrator.routes.chat import valid_session_id

router = APIRouter(tags=["sessions"])


def _memory(request: Request) -> Memory:
    memory: Memory | None = request.app.state.memory
    if memory is None:
        raise ApiError(404, "chat memory is turned off on this orchestrator (SPARKCTL_MEMORY=false)", "memory_off")
    return memory


@router.get("/v1/sessions")
async def list_sessions(
    limit: int = Query(default=50, ge=1, le=500),
    caller: Caller = Depends(authenticate),
    workspace: str = Depends(request_workspace),
    res: Resources = Depends(resources),
) -> dict[str, Any]:
    require_workspace(caller, workspace)
    async with res.pool.connection() as conn:
        found = await sessions.list_sessions(conn, workspace, limit)
    return {"object": "list", "workspace": workspace, "data": [item.to_json() for item in found]}


@router.get("/v1/sessions/{session_id}")
async def show_session(
    session_id: str,
    caller: Caller = Depends(authenticate),
    workspace: str = Depends(request_workspace),
    res: Resources = Depends(resources),
) -> dict[str, Any]:
    require_workspace(caller, workspace)
    valid_session_id(session_id)
    async with res.pool.connection() as conn:
        info = await sessions.session_info(conn, workspace, session_id)
        if info is None:
            raise ApiError(404, f"no session '{session_id}' in workspace '{workspace}'", "session_not_found")
        messages = await sessions.messages_of(conn, workspace, session_id)
    return info.to_json() | {"messages": messages}


@router.delete("/v1/sessions/{session_id}")
async def delete_session(
    session_id: str,
    request: Request,
    caller: Caller = Depends(authenticate),
    workspace: str = Depends(request_workspace),
) -> dict[str, Any]:
    require_workspace(caller, workspace)
    valid_session_id(session_id)
    try:
        known = await _memory(request).forget(workspace, session_id)
    except httpx.HTTPError as exc:
        lightrag = where(request.app.state.settings.lightrag_url)
        raise ApiError(
            503, f"LightRAG at {lightrag} could not delete the session's summary ({type(exc).__name__})",
            "lightrag_unavailable",
        ) from None  # fmt: skip
    if not known:
        raise ApiError(404, f"no session '{session_id}' in workspace '{workspace}'", "session_not_found")
    return {"id": session_id, "workspace": workspace, "deleted": True}
