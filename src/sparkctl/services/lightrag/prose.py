"""Indexing prose: LightRAG's LLM extraction, or chunks only.

`extract` (the default) runs LightRAG's own pipeline, whose extract model turns the text into
entities and relationships. The request returns once every document is processed or failed, so the
worker knows the outcome; LightRAG records a failed document instead of raising, so a failure is
put on the model server or the store that caused it (503) when one did.

`chunks` makes no LLM call: the text is split with LightRAG's token chunker and inserted as a
custom knowledge graph holding only chunks, which the vector search (`naive`/`mix` queries) finds.
Such documents have no LightRAG document-status row; `POST /documents/delete_files` removes them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from lightrag.base import DocProcessingStatus, DocStatus
from lightrag.chunker import chunking_by_token_size
from lightrag.utils import compute_mdhash_id, generate_track_id
from pydantic import BaseModel

from sparkctl.services.lightrag.backends import WorkspaceBusy, probe_stores
from sparkctl.services.lightrag.engine import Workspace
from sparkctl.services.lightrag.settings import LightragSettings
from sparkctl.services.lightrag.sources import PLACEHOLDER, from_stored, to_stored

SETTLED = frozenset({DocStatus.PROCESSED.value, DocStatus.FAILED.value})
POLL_INTERVAL = 0.2


class DocumentState(BaseModel):
    id: str
    status: str
    """LightRAG's document status, or `duplicate` for a text already indexed under another file."""
    file_path: str
    chunks_count: int | None = None
    error_msg: str | None = None


class InsertResponse(BaseModel):
    """LightRAG's insert answer (status, message, track_id) plus what became of each document."""

    status: Literal["success", "partial_success", "failure"]
    message: str
    track_id: str
    documents: list[DocumentState]


async def insert_prose(
    workspace: Workspace, texts: list[str], sources: list[str | None], settings: LightragSettings
) -> InsertResponse:
    stored = [to_stored(source) for source in sources]
    if settings.prose_mode == "chunks":
        return await _insert_chunks_only(workspace, texts, stored)
    return await _insert_with_extraction(workspace, texts, stored, settings)


async def _insert_with_extraction(
    workspace: Workspace, texts: list[str], stored: list[str], settings: LightragSettings
) -> InsertResponse:
    started = time.monotonic()
    track_id = generate_track_id("insert")
    texts, stored, known = await _without_indexed_files(workspace, texts, stored)
    docs: dict[str, DocProcessingStatus] = {}
    if texts:
        await workspace.rag.ainsert(texts, file_paths=stored, track_id=track_id)
        docs = await _settled(workspace, track_id, settings.insert_timeout)
    duplicates = [doc_id for doc_id, doc in docs.items() if (doc.metadata or {}).get("is_duplicate")]
    if duplicates:
        await workspace.rag.doc_status.delete(duplicates)
    failed = [
        doc for doc_id, doc in docs.items() if _status(doc) == DocStatus.FAILED.value and doc_id not in duplicates
    ]
    if failed:
        model_error = workspace.failures.since(started)
        if model_error is not None:
            raise model_error
        await probe_stores(settings)
    states = known + [_state(doc_id, doc, duplicate=doc_id in duplicates) for doc_id, doc in docs.items()]
    status, message = _outcome(states, failed, len(known) + len(duplicates), settings.insert_timeout)
    return InsertResponse(status=status, message=message, track_id=track_id, documents=states)


def _outcome(
    states: list[DocumentState], failed: list[DocProcessingStatus], already: int, timeout: float
) -> tuple[Literal["success", "partial_success", "failure"], str]:
    """The insert's status and message; `already` documents were indexed before this request."""
    unsettled = sum(state.status not in SETTLED | {"duplicate"} for state in states)
    if unsettled:
        return "partial_success", f"{unsettled} document(s) still indexing after {timeout:g}s"
    if failed and len(failed) == len(states):
        return "failure", "; ".join(doc.error_msg or "failed" for doc in failed)
    if failed:
        return "partial_success", f"{len(failed)} of {len(states)} document(s) failed"
    message = f"{len(states) - already} document(s) indexed"
    return "success", message + (f", {already} already indexed" if already else "")


async def _without_indexed_files(
    workspace: Workspace, texts: list[str], stored: list[str]
) -> tuple[list[str], list[str], list[DocumentState]]:
    """The texts whose file is not indexed yet, and the state of those that are.

    LightRAG refuses a second document with the same file name (it records a failed duplicate
    instead), so a document that failed earlier is deleted here to be indexed again: that is how an
    insert is retried once the model server is back. A changed file must be deleted first
    (`POST /documents/delete_files`), as the worker does.
    """
    rag = workspace.rag
    kept_texts, kept_paths, known = [], [], []
    for text, path in zip(texts, stored, strict=True):
        found = await rag.doc_status.get_doc_by_file_basename(path) if path != PLACEHOLDER else None
        if found is not None:
            doc_id, doc = found[0], DocProcessingStatus.from_stored(found[1])
            if _status(doc) != DocStatus.FAILED.value:
                known.append(_state(doc_id, doc))
                continue
            result = await rag.adelete_by_doc_id(doc_id)
            if result.status == "not_allowed":
                raise WorkspaceBusy(f"the failed document {doc_id} cannot be replaced now: {result.message}")
        kept_texts.append(text)
        kept_paths.append(path)
    return kept_texts, kept_paths, known


async def _settled(workspace: Workspace, track_id: str, timeout: float) -> dict[str, DocProcessingStatus]:
    """The track's documents once all are processed or failed (or as they are when `timeout` runs out).

    ainsert returns early when another insert already runs this workspace's pipeline: that run picks
    the new documents up, so completion is read from their status.
    """
    deadline = time.monotonic() + timeout
    while True:
        docs = await workspace.rag.aget_docs_by_track_id(track_id)
        if all(_status(doc) in SETTLED for doc in docs.values()) or time.monotonic() > deadline:
            return docs
        await asyncio.sleep(POLL_INTERVAL)


async def _insert_chunks_only(workspace: Workspace, texts: list[str], stored: list[str]) -> InsertResponse:
    rag = workspace.rag
    states: list[DocumentState] = []
    for text, file_path in zip(texts, stored, strict=True):
        doc_id = compute_mdhash_id(text, prefix="doc-")
        pieces = await asyncio.to_thread(
            chunking_by_token_size,
            rag.tokenizer,
            text,
            chunk_overlap_token_size=rag.chunk_overlap_token_size,
            chunk_token_size=rag.chunk_token_size,
        )
        chunks = [
            {
                "content": piece["content"],
                "source_id": f"{doc_id}#{piece['chunk_order_index']}",
                "file_path": file_path,
                "chunk_order_index": piece["chunk_order_index"],
            }
            for piece in pieces
        ]
        if chunks:
            await rag.ainsert_custom_kg({"chunks": chunks}, full_doc_id=doc_id)
        states.append(
            DocumentState(id=doc_id, status=DocStatus.PROCESSED.value, file_path=from_stored(file_path),
                          chunks_count=len(chunks))
        )  # fmt: skip
    return InsertResponse(
        status="success",
        message=f"{len(states)} document(s) indexed as chunks",
        track_id=generate_track_id("chunks"),
        documents=states,
    )


def _status(doc: DocProcessingStatus) -> str:
    status = doc.status
    return status.value if isinstance(status, DocStatus) else str(status)


def _state(doc_id: str, doc: DocProcessingStatus, *, duplicate: bool = False) -> DocumentState:
    return DocumentState(
        id=doc_id,
        status="duplicate" if duplicate else _status(doc),
        file_path=from_stored(doc.file_path),
        chunks_count=doc.chunks_count,
        error_msg=doc.error_msg,
    )
