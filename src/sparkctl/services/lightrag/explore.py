"""Routes the console reads a workspace's graph through (via the orchestrator): its size and embedder, entity
search, the neighbourhood of an entity, and an entity with its chunks (graph_view.py holds the reads).

They open the workspace whatever embedder indexed it: browsing the graph embeds nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from sparkctl.services.lightrag import graph_view
from sparkctl.services.lightrag.dependencies import get_any_workspace
from sparkctl.services.lightrag.embedders import EmbedderRecords
from sparkctl.services.lightrag.engine import Workspace

router = APIRouter(prefix="/explore", tags=["explore"])


class EmbedderInfo(BaseModel):
    name: str
    dimensions: int


class WorkspaceStats(BaseModel):
    workspace: str
    entities: int
    relations: int
    chunks: int
    embedder: EmbedderInfo | None
    """The embedder the workspace was indexed with; None before its first write."""


@router.get("/stats", response_model=WorkspaceStats)
async def stats(request: Request, workspace: Workspace = Depends(get_any_workspace)) -> WorkspaceStats:
    rag = workspace.rag
    reader = graph_view.reader_of(rag.chunk_entity_relation_graph)
    if isinstance(reader, graph_view.LiveGraph):
        entities, relations = await reader.counts()
    else:
        entities = await _rows(workspace, rag.entities_vdb.table_name)
        relations = await _rows(workspace, rag.relationships_vdb.table_name)
    embedders: EmbedderRecords = request.app.state.embedders
    recorded = await embedders.recorded(workspace.name)
    return WorkspaceStats(
        workspace=workspace.name,
        entities=entities,
        relations=relations,
        chunks=await _rows(workspace, "LIGHTRAG_DOC_CHUNKS"),
        embedder=EmbedderInfo(name=recorded.name, dimensions=recorded.dimensions) if recorded else None,
    )


@router.get("/entities")
async def entities(
    q: str = Query(min_length=1, max_length=200),
    limit: int = Query(default=20, ge=1, le=100),
    workspace: Workspace = Depends(get_any_workspace),
) -> dict[str, Any]:
    reader = graph_view.reader_of(workspace.rag.chunk_entity_relation_graph)
    return {"data": await graph_view.search(reader, q, limit)}


@router.get("/neighbourhood")
async def neighbourhood(
    entity: str = Query(min_length=1),
    depth: int = Query(default=1, ge=1, le=3),
    max_nodes: int = Query(default=200, ge=1, le=500),
    workspace: Workspace = Depends(get_any_workspace),
) -> dict[str, Any]:
    reader = graph_view.reader_of(workspace.rag.chunk_entity_relation_graph)
    return await graph_view.neighbourhood(reader, entity, depth, max_nodes)


@router.get("/entity")
async def entity(id: str = Query(min_length=1), workspace: Workspace = Depends(get_any_workspace)) -> dict[str, Any]:
    reader = graph_view.reader_of(workspace.rag.chunk_entity_relation_graph)
    return await graph_view.entity(reader, workspace.rag.text_chunks, id)


async def _rows(workspace: Workspace, table: str) -> int:
    """The workspace's rows in one of LightRAG's PostgreSQL tables (made when the workspace was opened)."""
    row = await workspace.rag.text_chunks.db.query(
        f"SELECT count(*) AS n FROM {table} WHERE workspace = $1", [workspace.name]
    )
    return int((row or {}).get("n") or 0)
