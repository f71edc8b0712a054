"""Document routes, on the paths and payloads of LightRAG's own server where it has them.

Inserts are synchronous: they answer once the text is indexed, so the worker can count and retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from lightrag.base import DocStatus
from lightrag.kg.shared_storage import get_namespace_data, get_namespace_lock
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sparkctl.services.lightrag.deletion import (
    DocumentDeleted,
    FilesDeleted,
    WorkspaceCleared,
    clear_workspace,
    delete_documents,
    delete_files,
)
from sparkctl.services.lightrag.dependencies import (
    get_any_workspace,
    get_settings,
    get_workspace,
    get_writable_workspace,
)
from sparkctl.services.lightrag.engine import Workspace
from sparkctl.services.lightrag.graph_edges import insert_graph_edges
from sparkctl.services.lightrag.graph_storage import commit_graph, deferred_graph_writes
from sparkctl.services.lightrag.prose import DocumentState, InsertResponse, insert_prose
from sparkctl.services.lightrag.settings import LightragSettings
from sparkctl.services.lightrag.sources import from_stored, to_stored

router = APIRouter(prefix="/documents", tags=["documents"])


class InsertTextRequest(BaseModel):
    text: str = Field(min_length=1)
    file_source: str | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text cannot be empty or whitespace-only")
        return text.strip()


class InsertTextsRequest(BaseModel):
    texts: list[str] = Field(min_length=1)
    file_sources: list[str] | None = None

    @field_validator("texts")
    @classmethod
    def _not_blank(cls, texts: list[str]) -> list[str]:
        if any(not text.strip() for text in texts):
            raise ValueError("texts cannot contain empty or whitespace-only entries")
        return [text.strip() for text in texts]

    @model_validator(mode="after")
    def _one_source_per_text(self) -> InsertTextsRequest:
        if self.file_sources is not None and len(self.file_sources) != len(self.texts):
            raise ValueError(f"file_sources has {len(self.file_sources)} entries for {len(self.texts)} texts")
        return self


class KgChunk(BaseModel):
    content: str = Field(min_length=1)
    source_id: str = Field(min_length=1, description="the alias entities and relationships cite")
    file_path: str | None = None
    chunk_order_index: int = 0


class KgEntity(BaseModel):
    entity_name: str = Field(min_length=1)
    entity_type: str = "UNKNOWN"
    description: str = "No description provided"
    source_id: str = "UNKNOWN"
    file_path: str | None = None


class KgRelationship(BaseModel):
    src_id: str = Field(min_length=1)
    tgt_id: str = Field(min_length=1)
    description: str = ""
    keywords: str = ""
    weight: float = 1.0
    source_id: str = ""
    file_path: str | None = None
    indexed: bool = Field(
        default=True,
        description="false: stored in the graph only, without a vector (a structural edge, such as a class "
        "containing its methods, that its entities' names already say; see graph_edges.py)",
    )


DEFER = (
    "leave the graph file unwritten until POST /documents/commit_graph (networkx: one write per ingest job "
    "instead of one per request)"
)


class CustomKgRequest(BaseModel):
    """LightRAG's custom-KG dict (the keys `ainsert_custom_kg` reads), with an optional document id."""

    chunks: list[KgChunk] = []
    entities: list[KgEntity] = []
    relationships: list[KgRelationship] = []
    full_doc_id: str | None = None
    defer_graph_write: bool = Field(default=False, description=DEFER)

    def for_lightrag(self) -> dict[str, list[dict[str, Any]]]:
        """The dict with every file path in its stored form (an absent one keeps LightRAG's default); the
        relationships stored in the graph only are under `graph_only`, which LightRAG does not read."""
        paths: dict[str, str] = {}

        def stored(item: BaseModel) -> dict[str, Any]:
            data = dict(item)
            data.pop("indexed", None)
            path = data.pop("file_path", None)
            if path:
                data["file_path"] = paths.get(path) or paths.setdefault(path, to_stored(path))
            return data

        return {
            "chunks": [stored(chunk) for chunk in self.chunks],
            "entities": [stored(entity) for entity in self.entities],
            "relationships": [stored(item) for item in self.relationships if item.indexed],
            "graph_only": [stored(item) for item in self.relationships if not item.indexed],
        }


class CustomKgResponse(BaseModel):
    status: Literal["success"] = "success"
    chunks: int
    entities: int
    relationships: int


class DeleteDocRequest(BaseModel):
    doc_ids: list[str] = Field(min_length=1)
    delete_llm_cache: bool = False


class DeleteDocResponse(BaseModel):
    status: Literal["success"] = "success"
    results: list[DocumentDeleted]


class DeleteFilesRequest(BaseModel):
    file_paths: list[str] = Field(min_length=1)
    defer_graph_write: bool = Field(default=False, description=DEFER)


class GraphCommitRequest(BaseModel):
    build_indexes: bool = Field(
        default=False,
        description="the bulk write is over: also build the vector indexes it dropped (vector_index.py)",
    )


class GraphCommitted(BaseModel):
    status: Literal["success"] = "success"
    written: bool = Field(description="whether deferred changes were written (false: there were none)")
    indexes_built: list[str] = Field(default=[], description="the vector tables whose index was built")


class DocumentsResponse(BaseModel):
    """Documents grouped by status, as LightRAG's `GET /documents` answered before it was paginated."""

    statuses: dict[str, list[DocumentState]]


class PipelineStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    busy: bool = False
    job_name: str | None = None
    job_start: str | None = None
    docs: int | None = None
    batchs: int | None = None
    cur_batch: int | None = None
    latest_message: str | None = None
    history_messages: list[str] = Field(default=[], description="the last 100")


@router.post("/text", response_model=InsertResponse)
async def insert_text(
    body: InsertTextRequest,
    workspace: Workspace = Depends(get_writable_workspace),
    settings: LightragSettings = Depends(get_settings),
) -> InsertResponse:
    return await insert_prose(workspace, [body.text], [body.file_source], settings)


@router.post("/texts", response_model=InsertResponse)
async def insert_texts(
    body: InsertTextsRequest,
    workspace: Workspace = Depends(get_writable_workspace),
    settings: LightragSettings = Depends(get_settings),
) -> InsertResponse:
    sources: list[str | None] = list(body.file_sources) if body.file_sources else [None] * len(body.texts)
    return await insert_prose(workspace, body.texts, sources, settings)


@router.post("/custom_kg", response_model=CustomKgResponse)
async def insert_custom_kg(
    body: CustomKgRequest, workspace: Workspace = Depends(get_writable_workspace)
) -> CustomKgResponse:
    """Code goes in this way: its entities and relationships are given, no LLM is asked. A deferred insert is a
    bulk write's: it may drop the vector indexes it brings many rows to (vector_index.py)."""
    kg = body.for_lightrag()
    graph_only = kg.pop("graph_only")
    rag = workspace.rag
    if body.defer_graph_write:
        coming = {
            rag.chunks_vdb.table_name: len(kg["chunks"]),
            rag.entities_vdb.table_name: len(kg["entities"]),
            rag.relationships_vdb.table_name: len(kg["relationships"]),
        }
        await workspace.indexes.before_bulk_insert(rag, coming)
    with deferred_graph_writes() if body.defer_graph_write else contextlib.nullcontext():
        await insert_graph_edges(workspace, graph_only, kg["chunks"])
        await rag.ainsert_custom_kg(kg, full_doc_id=body.full_doc_id)
        if graph_only:
            await rag.chunk_entity_relation_graph.index_done_callback()
    return CustomKgResponse(chunks=len(body.chunks), entities=len(body.entities), relationships=len(body.relationships))


@router.get("", response_model=DocumentsResponse)
async def list_documents(
    limit: int = Query(default=200, ge=10, le=200, description="documents per status at most (newest first)"),
    workspace: Workspace = Depends(get_workspace),
) -> DocumentsResponse:
    statuses: dict[str, list[DocumentState]] = {}
    for status in DocStatus:
        docs, _total = await workspace.rag.doc_status.get_docs_paginated(
            status_filter=status, page=1, page_size=limit, sort_field="updated_at", sort_direction="desc"
        )
        if docs:
            statuses[status.value] = [
                DocumentState(
                    id=doc_id,
                    status=status.value,
                    file_path=from_stored(doc.file_path),
                    chunks_count=doc.chunks_count,
                    error_msg=doc.error_msg,
                )
                for doc_id, doc in docs
            ]
    return DocumentsResponse(statuses=statuses)


@router.get("/pipeline_status", response_model=PipelineStatus)
async def pipeline_status(workspace: Workspace = Depends(get_workspace)) -> PipelineStatus:
    status = await get_namespace_data("pipeline_status", workspace=workspace.name)
    async with get_namespace_lock("pipeline_status", workspace=workspace.name):
        snapshot = dict(status)
    job_start = snapshot.get("job_start")
    history = list(snapshot.get("history_messages") or [])[-100:]
    return PipelineStatus.model_validate(
        snapshot | {"job_start": str(job_start) if job_start else None, "history_messages": [str(m) for m in history]}
    )


@router.delete("/delete_document", response_model=DeleteDocResponse)
async def delete_document(body: DeleteDocRequest, workspace: Workspace = Depends(get_workspace)) -> DeleteDocResponse:
    return DeleteDocResponse(results=await delete_documents(workspace, body.doc_ids, body.delete_llm_cache))


class EmbedderState(BaseModel):
    workspace: str
    embedder: str
    dimensions: int


@router.get("/embedder", response_model=EmbedderState)
async def embedder_of(request: Request, workspace: Workspace = Depends(get_workspace)) -> EmbedderState:
    """The embedder this service indexes the workspace with; 409 `embedder_changed` when the workspace was
    indexed with another (a worker asks before indexing, so unchanged files cannot hide the mismatch)."""
    current = request.app.state.embedders.current
    return EmbedderState(workspace=workspace.name, embedder=current.name, dimensions=current.dimensions)


@router.delete("", response_model=WorkspaceCleared)
async def clear_documents(request: Request, workspace: Workspace = Depends(get_any_workspace)) -> WorkspaceCleared:
    """Everything the workspace holds, and the embedder it was indexed with: the next write indexes it anew,
    with this service's embedder."""
    cleared = await clear_workspace(workspace)
    await request.app.state.embedders.forget(workspace.name)
    return cleared


@router.post("/delete_files", response_model=FilesDeleted)
async def delete_file_data(body: DeleteFilesRequest, workspace: Workspace = Depends(get_workspace)) -> FilesDeleted:
    """Chunks, entities and relationships whose only sources are these files (the worker's re-ingest)."""
    with deferred_graph_writes() if body.defer_graph_write else contextlib.nullcontext():
        return await delete_files(workspace, body.file_paths)


@router.post("/commit_graph", response_model=GraphCommitted)
async def commit_deferred_graph(
    body: GraphCommitRequest | None = None, workspace: Workspace = Depends(get_workspace)
) -> GraphCommitted:
    """Write what deferred inserts and deletions changed in the graph; the worker asks before it records files,
    and at the end of a job has the vector indexes its inserts dropped built again (PostgreSQL builds them while
    this process writes the graph)."""
    graph = workspace.rag.chunk_entity_relation_graph
    if not (body and body.build_indexes):
        return GraphCommitted(written=await commit_graph(graph))
    written, built = await asyncio.gather(commit_graph(graph), workspace.indexes.build_missing(workspace.rag))
    return GraphCommitted(written=written, indexes_built=built)
