"""GET /v1/graph/entities, /v1/graph/neighbourhood and /v1/graph/entities/{id}: the X-Workspace graph for the
console, read from the LightRAG service (explorer.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from sparkctl.services.orchestrator.auth import Caller, authenticate, request_workspace, require_workspace
from sparkctl.services.orchestrator.explorer import Explorer

router = APIRouter(tags=["graph"])


def explorer(request: Request) -> Explorer:
    return request.app.state.explorer  # type: ignore[no-any-return]


@router.get("/v1/graph/entities")
async def search_entities(
    q: str = Query(min_length=1, max_length=200, description="text the entity's name holds (any case)"),
    limit: int = Query(default=20, ge=1, le=100),
    caller: Caller = Depends(authenticate),
    workspace: str = Depends(request_workspace),
    graph: Explorer = Depends(explorer),
) -> dict[str, Any]:
    """Exact names first, then names that start with the text, then the most connected."""
    require_workspace(caller, workspace)
    return {"data": (await graph.search(workspace, q, limit))["data"]}


@router.get("/v1/graph/neighbourhood")
async def neighbourhood(
    entity: str = Query(min_length=1, max_length=1000, description="an entity's id (its name)"),
    depth: int = Query(default=1, ge=1, le=3),
    max_nodes: int = Query(default=200, ge=1, le=500),
    caller: Caller = Depends(authenticate),
    workspace: str = Depends(request_workspace),
    graph: Explorer = Depends(explorer),
) -> dict[str, Any]:
    """The entity and the nodes within `depth`, nearest and most connected first, at most `max_nodes`; `truncated`
    says the cap cut some, `total_nodes` and `total_edges` count what was within reach."""
    require_workspace(caller, workspace)
    return await graph.neighbourhood(workspace, entity, depth, max_nodes)


@router.get("/v1/graph/entities/{entity_id:path}")
async def show_entity(
    entity_id: str,
    caller: Caller = Depends(authenticate),
    workspace: str = Depends(request_workspace),
    graph: Explorer = Depends(explorer),
) -> dict[str, Any]:
    """The entity's description, where it is in its file, and the text of its chunks (capped: `truncated`)."""
    require_workspace(caller, workspace)
    return await graph.entity(workspace, entity_id)
