"""Deleting documents, and everything that came from given files.

A file reaches LightRAG two ways: prose through the document pipeline (a document-status row knows
its chunks, entities and relationships) and code as a custom knowledge graph (no document row:
only the chunks, entities and relationships carry the file). `delete_files` handles both:

1. documents whose file is one of the paths are deleted with LightRAG's own `adelete_by_doc_id`,
   which also rebuilds entities that other documents share;
2. the remaining chunks of those files are found in LightRAG's chunk table (the KV storage of this
   service is always PostgreSQL, and no storage method looks chunks up by file);
3. every entity and relationship citing those chunks or files loses them; one left with no other
   chunk or file is deleted, with its vectors; the others keep their remaining sources.

Step 3 reads the workspace's whole graph, linear in its size: the live NetworkX graph is read in place (no copy
of its 800 000 attribute dicts), and only nodes and edges whose `file_path` names one of the files are looked at
closely (every writer of this service records a chunk's file beside the chunk). Vectors are deleted by id — an
entity's is `ent-` + the hash of its name, a relationship's those of its two directions — never by a search on
a column without an index.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from lightrag.constants import GRAPH_FIELD_SEP
from lightrag.kg.networkx_impl import NetworkXStorage
from lightrag.kg.shared_storage import get_namespace_data, get_namespace_lock, get_storage_keyed_lock
from lightrag.utils import compute_mdhash_id, make_relation_chunk_key, make_relation_vdb_ids
from pydantic import BaseModel

from sparkctl.services.lightrag.backends import InternalError, WorkspaceBusy
from sparkctl.services.lightrag.engine import Workspace
from sparkctl.services.lightrag.sources import to_stored

logger = logging.getLogger(__name__)

_Node = tuple[Any, dict[str, Any]]
_Edge = tuple[Any, Any, dict[str, Any]]


class DocumentDeleted(BaseModel):
    doc_id: str
    status: str
    message: str


class FilesDeleted(BaseModel):
    status: str = "success"
    file_paths: list[str]
    documents: int
    chunks: int
    entities_deleted: int
    entities_updated: int
    relationships_deleted: int
    relationships_updated: int


async def delete_documents(workspace: Workspace, doc_ids: list[str], delete_llm_cache: bool) -> list[DocumentDeleted]:
    results = []
    for doc_id in doc_ids:
        result = await workspace.rag.adelete_by_doc_id(doc_id, delete_llm_cache=delete_llm_cache)
        if result.status == "not_allowed":
            raise WorkspaceBusy(f"document {doc_id} cannot be deleted now: {result.message}")
        results.append(DocumentDeleted(doc_id=doc_id, status=result.status, message=result.message))
    return results


async def delete_files(workspace: Workspace, paths: list[str]) -> FilesDeleted:
    rag = workspace.rag
    stored = sorted({to_stored(path) for path in paths})
    doc_ids = await _column(workspace, "SELECT id FROM LIGHTRAG_DOC_STATUS", stored)
    for document in await delete_documents(workspace, doc_ids, delete_llm_cache=True):
        if document.status == "fail":
            raise InternalError(f"deleting document {document.doc_id} failed: {document.message}")
    chunk_ids = set(await _column(workspace, "SELECT id FROM LIGHTRAG_DOC_CHUNKS", stored))
    graph = _GraphCleanup(workspace, chunk_ids, set(stored))
    await graph.plan()
    touched = graph.touched()
    if touched:
        async with get_storage_keyed_lock(touched, namespace=f"{workspace.name}:GraphDB", enable_logging=False):
            await graph.apply()
    if chunk_ids:
        await rag.text_chunks.delete(sorted(chunk_ids))
        await rag.chunks_vdb.delete(sorted(chunk_ids))
    for storage in (
        rag.text_chunks, rag.chunks_vdb, rag.entities_vdb, rag.relationships_vdb,
        rag.entity_chunks, rag.relation_chunks, rag.chunk_entity_relation_graph,
    ):  # fmt: skip
        await storage.index_done_callback()
    logger.info("workspace %s: deleted %d file(s)", workspace.name, len(stored))
    return FilesDeleted(
        file_paths=paths,
        documents=len(doc_ids),
        chunks=len(chunk_ids),
        entities_deleted=len(graph.nodes_deleted),
        entities_updated=len(graph.nodes_updated),
        relationships_deleted=len(graph.edges_deleted),
        relationships_updated=len(graph.edges_updated),
    )


class WorkspaceCleared(BaseModel):
    status: str = "success"
    storages: int


async def clear_workspace(workspace: Workspace) -> WorkspaceCleared:
    """Every document, chunk, entity, relationship and vector of the workspace (for indexing it again)."""
    rag = workspace.rag
    status = await get_namespace_data("pipeline_status", workspace=workspace.name)
    async with get_namespace_lock("pipeline_status", workspace=workspace.name):
        if status.get("busy"):
            raise WorkspaceBusy(f"workspace {workspace.name} is being indexed; it cannot be cleared now")
    storages = (
        rag.text_chunks, rag.full_docs, rag.full_entities, rag.full_relations, rag.entity_chunks,
        rag.relation_chunks, rag.entities_vdb, rag.relationships_vdb, rag.chunks_vdb,
        rag.chunk_entity_relation_graph, rag.doc_status, rag.llm_response_cache,
    )  # fmt: skip
    for storage in storages:
        result = await storage.drop()
        if isinstance(result, dict) and result.get("status") not in (None, "success"):
            raise InternalError(f"clearing {type(storage).__name__} failed: {result.get('message')}")
    logger.info("workspace %s: cleared", workspace.name)
    return WorkspaceCleared(storages=len(storages))


async def _column(workspace: Workspace, select: str, stored_paths: list[str]) -> list[str]:
    """`select`'s first column for the workspace's rows whose file_path is one of the stored paths."""
    rows = await workspace.rag.text_chunks.db.query(
        f"{select} WHERE workspace = $1 AND file_path = ANY($2::text[])",
        [workspace.name, stored_paths],
        multirows=True,
    )
    return [row["id"] for row in rows or []]


async def _nodes_and_edges(graph: Any) -> tuple[Iterable[_Node], Iterable[_Edge]]:
    """(name, data) of every node and (source, target, data) of every edge; NetworkX's live graph read in place
    (only read: nothing awaits while it is walked), another storage's copied out."""
    if isinstance(graph, NetworkXStorage):
        live = await graph._get_graph()
        return live.nodes(data=True), live.edges(data=True)
    nodes = [(node.pop("id"), node) for node in await graph.get_all_nodes()]
    edges = [(edge.pop("source"), edge.pop("target"), edge) for edge in await graph.get_all_edges()]
    return nodes, edges


def _split(value: Any) -> list[str]:
    return [item for item in str(value or "").split(GRAPH_FIELD_SEP) if item]


class _GraphCleanup:
    """What deleting some chunks and files does to the graph: nodes and edges to delete or to trim."""

    def __init__(self, workspace: Workspace, chunk_ids: set[str], stored_paths: set[str]) -> None:
        self._workspace = workspace
        self._chunks = chunk_ids
        self._paths = stored_paths
        self.nodes_deleted: list[str] = []
        self.nodes_updated: dict[str, dict[str, Any]] = {}
        self.edges_deleted: list[tuple[str, str]] = []
        self.edges_updated: dict[tuple[str, str], dict[str, Any]] = {}

    def touched(self) -> list[str]:
        names = {*self.nodes_deleted, *self.nodes_updated}
        for pair in [*self.edges_deleted, *self.edges_updated]:
            names.update(pair)
        return sorted(names)

    async def plan(self) -> None:
        nodes, edges = await _nodes_and_edges(self._workspace.rag.chunk_entity_relation_graph)
        for name, data in nodes:
            trimmed = self._trimmed(data)
            if trimmed is None:
                continue
            if trimmed is False:
                self.nodes_deleted.append(str(name))
            else:
                self.nodes_updated[str(name)] = trimmed
        gone = set(self.nodes_deleted)
        for source, target, data in edges:
            trimmed = False if source in gone or target in gone else self._trimmed(data)
            if trimmed is False:
                self.edges_deleted.append((str(source), str(target)))
            elif trimmed is not None:
                self.edges_updated[(str(source), str(target))] = trimmed

    def _trimmed(self, data: dict[str, Any]) -> dict[str, Any] | bool | None:
        """None: untouched; False: nothing of it is left; else its data without the deleted sources."""
        cited = str(data.get("file_path") or "")
        if not any(path in cited for path in self._paths):
            return None
        sources, files = _split(data.get("source_id")), _split(cited)
        if not (self._chunks.intersection(sources) or self._paths.intersection(files)):
            return None
        kept_sources = [source for source in sources if source not in self._chunks]
        kept_files = [path for path in files if path not in self._paths]
        if not kept_sources or not kept_files:
            return False
        return {**data, "source_id": GRAPH_FIELD_SEP.join(kept_sources), "file_path": GRAPH_FIELD_SEP.join(kept_files)}

    async def apply(self) -> None:
        rag = self._workspace.rag
        graph = rag.chunk_entity_relation_graph
        if self.edges_deleted:
            await rag.relationships_vdb.delete(
                [vdb_id for src, tgt in self.edges_deleted for vdb_id in make_relation_vdb_ids(src, tgt)]
            )
            await rag.relation_chunks.delete([make_relation_chunk_key(src, tgt) for src, tgt in self.edges_deleted])
            await graph.remove_edges(self.edges_deleted)
        if self.nodes_deleted:
            await rag.entities_vdb.delete([compute_mdhash_id(name, prefix="ent-") for name in self.nodes_deleted])
            await rag.entity_chunks.delete(self.nodes_deleted)
            await graph.remove_nodes(self.nodes_deleted)
        for name, data in self.nodes_updated.items():
            await graph.upsert_node(name, data)
            await self._trim_tracking(rag.entity_chunks, name)
        for (src, tgt), data in self.edges_updated.items():
            await graph.upsert_edge(src, tgt, data)
            await self._trim_tracking(rag.relation_chunks, make_relation_chunk_key(src, tgt))

    async def _trim_tracking(self, storage: Any, key: str) -> None:
        """Drop the deleted chunks from LightRAG's per-entity/relation chunk record, when it keeps one."""
        record = await storage.get_by_id(key)
        if not record or not isinstance(record.get("chunk_ids"), list):
            return
        kept = [chunk for chunk in record["chunk_ids"] if chunk not in self._chunks]
        await storage.upsert({key: {"chunk_ids": kept, "count": len(kept)}})
