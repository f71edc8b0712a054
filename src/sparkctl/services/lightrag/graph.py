"""Graph routes: the workspace's entity labels and the subgraph around one of them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from sparkctl.services.lightrag.dependencies import get_workspace
from sparkctl.services.lightrag.engine import Workspace
from sparkctl.services.lightrag.sources import decode_file_paths

router = APIRouter(tags=["graph"])


@router.get("/graph/label/list")
async def graph_labels(workspace: Workspace = Depends(get_workspace)) -> list[str]:
    return list(await workspace.rag.get_graph_labels())


@router.get("/graphs")
async def knowledge_graph(
    label: str = Query(min_length=1, description="an entity name, or * for the most connected entities"),
    max_depth: int = Query(default=3, ge=1, le=10),
    max_nodes: int = Query(default=1000, ge=1),
    workspace: Workspace = Depends(get_workspace),
) -> dict[str, Any]:
    graph = await workspace.rag.get_knowledge_graph(node_label=label, max_depth=max_depth, max_nodes=max_nodes)
    return decode_file_paths(graph.model_dump())  # type: ignore[no-any-return]
