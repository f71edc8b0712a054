"""Query routes: `/query` answers with the extract model, `/query/data` returns what was retrieved, no answer.

Giving `hl_keywords`/`ll_keywords` skips LightRAG's LLM keyword extraction.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from lightrag.base import QueryParam
from pydantic import BaseModel, Field

from sparkctl.services.lightrag.backends import InternalError, probe_stores
from sparkctl.services.lightrag.dependencies import get_settings, get_workspace
from sparkctl.services.lightrag.engine import Workspace
from sparkctl.services.lightrag.names import with_named_entities
from sparkctl.services.lightrag.settings import LightragSettings
from sparkctl.services.lightrag.sources import decode_file_paths

router = APIRouter(tags=["query"])

NO_CONTEXT = "No relevant context found for the query."
ENTITY_MODES = ("local", "hybrid", "mix")
"""The modes whose answers carry entities: those that also look the keywords' identifiers up by name."""


class QueryRequest(BaseModel):
    """The fields of LightRAG's QueryRequest this service honours."""

    query: str = Field(min_length=1, max_length=32000)
    mode: Literal["local", "global", "hybrid", "naive", "mix", "bypass"] = "mix"
    only_need_context: bool | None = None
    response_type: str | None = Field(default=None, min_length=1)
    top_k: int | None = Field(default=None, ge=1, le=1000)
    chunk_top_k: int | None = Field(default=None, ge=1, le=1000)
    max_entity_tokens: int | None = Field(default=None, ge=1)
    max_relation_tokens: int | None = Field(default=None, ge=1)
    max_total_tokens: int | None = Field(default=None, ge=1)
    hl_keywords: list[str] = []
    ll_keywords: list[str] = []
    conversation_history: list[dict[str, Any]] | None = None
    user_prompt: str | None = None
    enable_rerank: bool | None = Field(
        default=None, description="rerank the chunks found with the reranker model (default: when there is one)"
    )
    include_references: bool = True

    def to_param(self, *, reranker: bool) -> QueryParam:
        """LightRAG's query parameters; `reranker` says whether the service has a reranker model."""
        fields = self.model_dump(exclude_none=True, exclude={"query", "include_references", "enable_rerank"})
        rerank = reranker if self.enable_rerank is None else self.enable_rerank and reranker
        return QueryParam(**fields, enable_rerank=rerank, stream=False)


class QueryResponse(BaseModel):
    response: str
    references: list[dict[str, Any]] | None = None
    response_time: float | None = None
    llm_generated: bool = True


@router.post("/query", response_model=QueryResponse)
async def query(
    body: QueryRequest,
    workspace: Workspace = Depends(get_workspace),
    settings: LightragSettings = Depends(get_settings),
) -> QueryResponse:
    started = time.monotonic()
    result = await workspace.rag.aquery_llm(
        body.query, param=body.to_param(reranker=workspace.rag.rerank_model_func is not None)
    )
    if result.get("status") == "failure" and str(result.get("message", "")).startswith("Query failed"):
        await _raise_swallowed(workspace, started, str(result["message"]), settings)
    answer = result.get("llm_response") or {}
    content = str(answer.get("content") or "")
    references = decode_file_paths((result.get("data") or {}).get("references", []))
    return QueryResponse(
        response=content or NO_CONTEXT,
        references=references if body.include_references else None,
        response_time=round(time.monotonic() - started, 3),
        llm_generated=bool(content) and bool(answer.get("llm_generated", True)),
    )


@router.post("/query/data")
async def query_data(
    body: QueryRequest, request: Request, workspace: Workspace = Depends(get_workspace)
) -> dict[str, Any]:
    """Entities, relationships, chunks and references, as LightRAG's `aquery_data` returns them, with the
    definitions the low-level keywords name first (names.py)."""
    result = await workspace.rag.aquery_data(
        body.query, param=body.to_param(reranker=workspace.rag.rerank_model_func is not None)
    )
    if body.mode in ENTITY_MODES:
        names = request.app.state.names
        result = await with_named_entities(workspace.rag, names, workspace.name, body.ll_keywords, result)
    return decode_file_paths(result)  # type: ignore[no-any-return]


async def _raise_swallowed(workspace: Workspace, started: float, message: str, settings: LightragSettings) -> None:
    """aquery_llm turns exceptions into a failure message: put it on the backend that caused it."""
    model_error = workspace.failures.since(started)
    if model_error is not None:
        raise model_error
    await probe_stores(settings)
    raise InternalError(message, hint="See the service log.")
