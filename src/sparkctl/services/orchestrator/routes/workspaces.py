"""GET /v1/workspaces, GET and DELETE /v1/workspaces/{name}: the workspaces a key may use, with what each holds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from sparkctl.services.common.workspaces import InvalidWorkspace, validate_workspace
from sparkctl.services.orchestrator import workspaces
from sparkctl.services.orchestrator.auth import Caller, authenticate, require_workspace
from sparkctl.services.orchestrator.errors import ApiError
from sparkctl.services.orchestrator.explorer import Explorer
from sparkctl.services.orchestrator.resources import Resources, resources
from sparkctl.services.orchestrator.routes.graph import explorer

router = APIRouter(tags=["workspaces"])


def _named(name: str, caller: Caller) -> str:
    try:
        name = validate_workspace(name)
    except InvalidWorkspace as exc:
        raise ApiError(400, f"{exc.message}: {exc.hint}", "invalid_workspace") from None
    require_workspace(caller, name)
    return name


@router.get("/v1/workspaces")
async def list_workspaces(
    caller: Caller = Depends(authenticate), res: Resources = Depends(resources), graph: Explorer = Depends(explorer)
) -> dict[str, Any]:
    """Every workspace holding anything (files, jobs, sessions or a graph) that the key may use."""
    return {"object": "list", "data": await workspaces.list_workspaces(res.pool, graph, caller.workspaces)}


@router.get("/v1/workspaces/{name}")
async def show_workspace(
    name: str,
    caller: Caller = Depends(authenticate),
    res: Resources = Depends(resources),
    graph: Explorer = Depends(explorer),
) -> dict[str, Any]:
    return await workspaces.show_workspace(res.pool, graph, _named(name, caller))


@router.delete("/v1/workspaces/{name}")
async def delete_workspace(
    name: str,
    request: Request,
    caller: Caller = Depends(authenticate),
    res: Resources = Depends(resources),
    graph: Explorer = Depends(explorer),
) -> dict[str, Any]:
    """Its graph, vectors and documents in LightRAG, its file records, uploads, ended jobs and chat sessions
    (every tier) and its answers' traces; 409 `workspace_busy` while a job of it is queued or running."""
    name = _named(name, caller)
    deleted = await workspaces.delete_workspace(res.pool, res.redis, graph, request.app.state.traces, name)
    return {"name": name, "deleted": True, "files": deleted.files, "sessions": deleted.sessions}
