"""Entities a question names: code identifiers among its low-level keywords, looked up by name.

A vector search finds entities whose text resembles the keywords; a question that names a function or class
(`parse_file`, `Client.send`, `httpx._client.Client`) wants that very definition, which a feature-hashed or even
a real embedding may rank below look-alikes. So `/query/data` also looks each identifier up in the workspace's
entity table, as a qualified name or as its last dotted parts (`Client.send` finds `httpx._client.Client.send`),
through a b-tree index of the reversed names (created once, beside LightRAG's own indexes of that table). The
entities found come first in the answer, with the chunks they cite.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from lightrag import LightRAG
from lightrag.constants import GRAPH_FIELD_SEP
from lightrag.kg.postgres_impl import _safe_index_name

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
MIN_LENGTH = 3
PER_NAME = 4
"""Entities kept per identifier: a short name (`get`) can end many qualified ones; the shortest are kept."""

_SEARCH = """
    SELECT entity_name FROM {table}
    WHERE workspace = $1
      AND (reverse(entity_name) = $2 OR (reverse(entity_name) ~>=~ $3 AND reverse(entity_name) ~<~ $4))
    ORDER BY length(entity_name), entity_name
    LIMIT $5
"""


def identifiers(keywords: list[str]) -> list[str]:
    """The keywords written as code identifiers, in order, each once."""
    found = [
        word.strip() for word in keywords if IDENTIFIER.fullmatch(word.strip()) and len(word.strip()) >= MIN_LENGTH
    ]
    return list(dict.fromkeys(found))


def _after(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix` (byte order, text_pattern_ops)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class NameIndex:
    """Looks identifiers up in a LightRAG instance's entity table (shared by every workspace, as its index)."""

    def __init__(self) -> None:
        self._ready: set[str] = set()
        self._lock = asyncio.Lock()

    async def entities(self, rag: LightRAG, workspace: str, names: list[str]) -> list[str]:
        """The entities each name denotes, the names' order kept."""
        if not names:
            return []
        storage = rag.entities_vdb
        table = storage.table_name
        await self._ensure(storage)
        found: list[str] = []
        async with storage.db.pool.acquire() as connection:
            for name in names:
                suffix = "." + name
                rows = await connection.fetch(
                    _SEARCH.format(table=table),
                    workspace,
                    name[::-1],
                    suffix[::-1],
                    _after(suffix[::-1]),
                    PER_NAME,
                )
                found.extend(row["entity_name"] for row in rows)
        return list(dict.fromkeys(found))

    async def _ensure(self, storage: Any) -> None:
        table = storage.table_name
        if table in self._ready:
            return
        async with self._lock:
            if table in self._ready:
                return
            index = _safe_index_name(table, "reversed_name")
            async with storage.db.pool.acquire() as connection:
                await connection.execute(
                    f"CREATE INDEX IF NOT EXISTS {index} ON {table} (workspace, reverse(entity_name) text_pattern_ops)"
                )
            self._ready.add(table)


async def with_named_entities(
    rag: LightRAG, index: NameIndex, workspace: str, keywords: list[str], result: dict[str, Any]
) -> dict[str, Any]:
    """LightRAG's query data with the entities the keywords name, and the chunks they cite, put first."""
    data = result.get("data")
    if not isinstance(data, dict):
        return result
    names = await index.entities(rag, workspace, identifiers(keywords))
    if not names:
        return result
    nodes = await rag.chunk_entity_relation_graph.get_nodes_batch(names)
    named = [_entity(name, nodes[name]) for name in names if name in nodes]
    listed = {entity.get("entity_name") for entity in data.get("entities") or []}
    data["entities"] = [entity for entity in named if entity["entity_name"] not in listed] + list(
        data.get("entities") or []
    )
    chunk_ids = list(
        dict.fromkeys(chunk for entity in named for chunk in entity["source_id"].split(GRAPH_FIELD_SEP) if chunk)
    )
    present = {chunk.get("chunk_id") for chunk in data.get("chunks") or []}
    wanted = [chunk for chunk in chunk_ids if chunk not in present]
    stored = await rag.text_chunks.get_by_ids(wanted) if wanted else []
    cited = [
        {
            "reference_id": "",
            "content": chunk["content"],
            "file_path": chunk.get("file_path", "unknown_source"),
            "chunk_id": chunk_id,
        }
        for chunk_id, chunk in zip(wanted, stored, strict=True)
        if chunk
    ]
    data["chunks"] = cited + list(data.get("chunks") or [])
    return result


def _entity(name: str, node: dict[str, Any]) -> dict[str, Any]:
    return {
        "entity_name": name,
        "entity_type": node.get("entity_type", "UNKNOWN"),
        "description": node.get("description", ""),
        "source_id": node.get("source_id", ""),
        "file_path": node.get("file_path", "unknown_source"),
        "created_at": node.get("created_at", ""),
    }
