"""Relationships stored in the graph only: edges without a vector in the relationship index.

A code graph's relationships (a module contains its functions, a function calls another, a module imports one) say
nothing their two entities' qualified names do not already say, and a repository has two for each entity.
Embedding them would double what is indexed (550 000 vectors for 10 000 files) for no search their entities do not
answer, so the custom-KG route stores them as LightRAG's `ainsert_custom_kg` stores an edge (the same attributes,
endpoints normalised as LightRAG normalises them, a missing endpoint added as its placeholder node, `source_id` the
chunk id LightRAG gives the cited chunk) but writes nothing to the vector store. Search reaches them through their
entities: LightRAG's local mode follows an entity's edges in the graph.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from lightrag.kg.shared_storage import get_storage_keyed_lock
from lightrag.utils import compute_mdhash_id, normalize_entity_name, sanitize_text_for_encoding
from lightrag.utils_pipeline import normalize_document_file_path

from sparkctl.services.lightrag.engine import Workspace

_normalized = functools.lru_cache(maxsize=1 << 18)(normalize_entity_name)
"""LightRAG's normalisation of an entity name (a dozen regular expressions), once per name: a call target is
named by many edges, over many inserts."""


def chunk_ids(chunks: list[dict[str, Any]]) -> dict[str, str]:
    """Each chunk's alias (its `source_id`) → the id LightRAG stores the chunk under."""
    return {
        chunk["source_id"]: compute_mdhash_id(sanitize_text_for_encoding(chunk["content"]), prefix="chunk-")
        for chunk in chunks
    }


async def insert_graph_edges(
    workspace: Workspace, relationships: list[dict[str, Any]], chunks: list[dict[str, Any]]
) -> None:
    """Store `relationships` (custom-KG dicts citing `chunks` by alias) as graph edges only."""
    if not relationships:
        return
    sources = chunk_ids(chunks)
    now = int(time.time())
    paths: dict[str, str] = {}
    edges: dict[tuple[str, str], tuple[str, str, dict[str, Any]]] = {}
    for relationship in relationships:
        src, tgt = _normalized(relationship["src_id"]), _normalized(relationship["tgt_id"])
        if not src or not tgt or src == tgt:
            continue
        alias = relationship.get("source_id") or ""
        path = relationship.get("file_path", "custom_kg")
        data = {
            "weight": float(relationship.get("weight", 1.0)),
            "description": relationship.get("description", ""),
            "keywords": relationship.get("keywords", ""),
            "source_id": sources.get(alias, "UNKNOWN") if alias else "",
            "file_path": paths.get(path) or paths.setdefault(path, normalize_document_file_path(path)),
            "created_at": now,
        }
        edges[tuple(sorted((src, tgt)))] = (src, tgt, data)  # type: ignore[index]
    graph = workspace.rag.chunk_entity_relation_graph
    ends = sorted({name for pair in edges for name in pair})
    async with get_storage_keyed_lock(ends, namespace=f"{workspace.name}:GraphDB", enable_logging=False):
        existing = await graph.has_nodes_batch(ends)
        placeholders: dict[str, dict[str, Any]] = {}
        for src, tgt, data in edges.values():
            for name in (src, tgt):
                if name not in existing and name not in placeholders:
                    placeholders[name] = {
                        "entity_id": name,
                        "source_id": data["source_id"],
                        "description": "UNKNOWN",
                        "entity_type": "UNKNOWN",
                        "file_path": data["file_path"],
                        "created_at": now,
                    }
        if placeholders:
            await graph.upsert_nodes_batch(list(placeholders.items()))
        await graph.upsert_edges_batch(list(edges.values()))
