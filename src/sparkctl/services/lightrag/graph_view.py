"""Reading a workspace's graph for the console: counts, entity search by name, the neighbourhood of an entity
under a node cap that says what it cut, and an entity with the text of its chunks.

The reads go through a `GraphReader`, of which there are two. `LiveGraph` reads the NetworkX graph LightRAG
already holds in memory: one lookup of it per read (LightRAG's own entry point, which reloads the file when
another process wrote it), then synchronous reads with no copy, so a concurrent insert cannot change it midway.
`StoredGraph` goes through the batch methods every LightRAG graph storage has (Neo4j in the cluster). The
algorithms are written once, above them.

Code entities carry where they are in their description (`class pkg.mod.Name in pkg/mod.py:10-42.`, see
preprocessor/parse.py); code relationships carry their direction there too (`A calls B (file:line)`), since
LightRAG's NetworkX graph is undirected.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from lightrag.constants import GRAPH_FIELD_SEP
from lightrag.kg.networkx_impl import NetworkXStorage

from sparkctl.errors import SparkctlError
from sparkctl.services.lightrag.sources import PLACEHOLDER, from_stored

CODE_RELATIONS = ("contains", "calls", "imports", "inherits")
"""The relationship kinds the preprocessor emits for code (its `keywords`); any other is an LLM's: `related`."""
CODE_ENTITY_TYPES = frozenset({"module", "class", "struct", "interface", "trait", "enum", "type", "function", "method"})
VISIT_LIMIT = 20_000
"""Nodes a neighbourhood walk visits at most: beyond it the totals are a lower bound and `truncated` is set."""
MAX_CHUNKS = 8
MAX_CHUNK_CHARS = 4000
_LOCATION = re.compile(r" in (?P<file>.+):(?P<start>\d+)-(?P<end>\d+)\.$")


class EntityNotFound(SparkctlError):
    """No entity of that name in the workspace's graph."""

    default_hint = "Search the workspace's entities by name first (GET /v1/graph/entities?q=...)."


class GraphReader(Protocol):
    async def has(self, node: str) -> bool: ...

    async def nodes(self, ids: list[str]) -> dict[str, dict[str, Any]]: ...

    async def degrees(self, ids: list[str]) -> dict[str, int]: ...

    async def neighbours(self, ids: list[str]) -> dict[str, list[str]]: ...

    async def edges(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]: ...

    async def candidates(self, text: str, limit: int) -> list[str]:
        """Names containing `text` (any case); at most `limit` when the storage cannot rank them all."""
        ...


class LiveGraph:
    """The NetworkX graph LightRAG holds for the workspace."""

    def __init__(self, storage: NetworkXStorage) -> None:
        self.storage = storage

    async def _graph(self) -> Any:
        return await self.storage._get_graph()

    async def has(self, node: str) -> bool:
        return bool((await self._graph()).has_node(node))

    async def nodes(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        graph = await self._graph()
        return {node: dict(graph.nodes[node]) for node in ids if graph.has_node(node)}

    async def degrees(self, ids: list[str]) -> dict[str, int]:
        graph = await self._graph()
        return {node: int(graph.degree(node)) if graph.has_node(node) else 0 for node in ids}

    async def neighbours(self, ids: list[str]) -> dict[str, list[str]]:
        graph = await self._graph()
        return {node: list(graph.adj[node]) if graph.has_node(node) else [] for node in ids}

    async def edges(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        graph = await self._graph()
        return {(a, b): dict(graph.edges[a, b]) for a, b in pairs if graph.has_edge(a, b)}

    async def candidates(self, text: str, limit: int) -> list[str]:
        graph = await self._graph()
        wanted = text.lower()
        ranked = (
            (_rank(str(node), wanted), -int(graph.degree(node)), str(node))
            for node in graph.nodes
            if wanted in str(node).lower()
        )
        return [name for _, _, name in heapq.nsmallest(limit, ranked)]

    async def counts(self) -> tuple[int, int]:
        graph = await self._graph()
        return int(graph.number_of_nodes()), int(graph.number_of_edges())


class StoredGraph:
    """Any LightRAG graph storage, through its batch reads."""

    SEARCH_POOL = 10
    """Names asked of the storage's own search per name returned, before they are ranked here by degree."""

    def __init__(self, storage: Any) -> None:
        self.storage = storage

    async def has(self, node: str) -> bool:
        return bool(await self.storage.has_node(node))

    async def nodes(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return dict(await self.storage.get_nodes_batch(ids)) if ids else {}

    async def degrees(self, ids: list[str]) -> dict[str, int]:
        return dict(await self.storage.node_degrees_batch(ids)) if ids else {}

    async def neighbours(self, ids: list[str]) -> dict[str, list[str]]:
        if not ids:
            return {}
        found = await self.storage.get_nodes_edges_batch(ids)
        return {node: [b if a == node else a for a, b in found.get(node) or []] for node in ids}

    async def edges(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        if not pairs:
            return {}
        found = await self.storage.get_edges_batch([{"src": a, "tgt": b} for a, b in pairs])
        return {pair: dict(found.get(pair) or found.get((pair[1], pair[0])) or {}) for pair in pairs}

    async def candidates(self, text: str, limit: int) -> list[str]:
        return list(await self.storage.search_labels(text, limit=limit * self.SEARCH_POOL))


def reader_of(storage: Any) -> LiveGraph | StoredGraph:
    return LiveGraph(storage) if isinstance(storage, NetworkXStorage) else StoredGraph(storage)


def _rank(name: str, wanted: str) -> int:
    """0: the name or its last dotted part is `wanted`; 1: one of them starts with it; 2: it is inside."""
    full = name.lower()
    short = full.rsplit(".", 1)[-1]
    if wanted in (full, short):
        return 0
    if full.startswith(wanted) or short.startswith(wanted):
        return 1
    return 2


def first_file(value: Any) -> str | None:
    """The first path of a stored `file_path` (LightRAG joins several with its separator), decoded."""
    for part in str(value or "").split(GRAPH_FIELD_SEP):
        if part and part != PLACEHOLDER:
            return from_stored(part)
    return None


def location(data: dict[str, Any]) -> tuple[int | None, int | None]:
    """A code entity's first and last line, from its description; (None, None) for others."""
    first_line = str(data.get("description") or "").split("\n", 1)[0]
    found = _LOCATION.search(first_line)
    return (int(found["start"]), int(found["end"])) if found else (None, None)


def entity_type(data: dict[str, Any]) -> str:
    return str(data.get("entity_type") or "unknown")


def label_of(name: str, kind: str) -> str:
    """What a node is drawn with: a code entity's last dotted part, anything else's whole name."""
    return name.rsplit(".", 1)[-1] or name if kind in CODE_ENTITY_TYPES else name


def relation_of(data: dict[str, Any]) -> str:
    kinds = re.split(r"[,\s]+|" + re.escape(GRAPH_FIELD_SEP), str(data.get("keywords") or "").lower())
    return next((kind for kind in kinds if kind in CODE_RELATIONS), "related")


def direction(a: str, b: str, data: dict[str, Any], relation: str) -> tuple[str, str]:
    """(source, target) of a relationship: as its description says for code; for others, whose graph keeps no
    direction, in name order (the same whichever end the walk came from)."""
    if relation == "related":
        return (a, b) if a <= b else (b, a)
    if str(data.get("description") or "").startswith(f"{b} {relation} {a}"):
        return b, a
    return a, b


async def search(reader: GraphReader, text: str, limit: int) -> list[dict[str, Any]]:
    """Entities whose name holds `text` (any case): exact names first, then prefixes, then by degree."""
    wanted = text.strip().lower()
    if not wanted:
        return []
    names = await reader.candidates(wanted, limit)
    degrees = await reader.degrees(names)
    names = sorted(names, key=lambda name: (_rank(name, wanted), -degrees.get(name, 0), name))[:limit]
    data = await reader.nodes(names)
    return [
        {"id": name, "name": name, "type": entity_type(data[name]), "file": first_file(data[name].get("file_path"))}
        for name in names
        if name in data
    ]


@dataclass
class _Walk:
    layers: list[list[str]]
    seen: set[str]
    adjacency: dict[str, list[str]]
    complete: bool


async def _walk(reader: GraphReader, entity: str, depth: int) -> _Walk:
    """Breadth first from `entity` to `depth`, with the neighbours of every node reached."""
    layers, seen, adjacency, complete = [[entity]], {entity}, {}, True
    for _ in range(depth):
        frontier = layers[-1]
        adjacency.update(await reader.neighbours(frontier))
        following: list[str] = []
        for node in frontier:
            for other in adjacency.get(node, []):
                if other in seen:
                    continue
                if len(seen) >= VISIT_LIMIT:
                    complete = False
                    break
                seen.add(other)
                following.append(other)
        if not following:
            break
        layers.append(following)
    adjacency.update(await reader.neighbours([node for node in layers[-1] if node not in adjacency]))
    return _Walk(layers, seen, adjacency, complete)


def _pairs(nodes: Iterable[str], among: set[str], adjacency: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Each edge between two nodes of `among`, once, reached from `nodes`."""
    found: dict[frozenset[str], tuple[str, str]] = {}
    for node in nodes:
        for other in adjacency.get(node, []):
            if other in among and other != node:
                found.setdefault(frozenset((node, other)), (node, other))
    return list(found.values())


def _count_edges(among: set[str], adjacency: dict[str, list[str]]) -> int:
    """Edges between two nodes of `among` (each seen from both ends), self-loops left out."""
    ends = sum(1 for node in among for other in adjacency.get(node, ()) if other in among and other != node)
    return ends // 2


async def neighbourhood(reader: GraphReader, entity: str, depth: int, max_nodes: int) -> dict[str, Any]:
    """The nodes within `depth` of `entity`, nearest first and, within a distance, most connected first, at most
    `max_nodes` of them, and the edges between those; what the cap cut is counted in the totals."""
    if not await reader.has(entity):
        raise EntityNotFound(f"no entity {entity[:200]!r} in this workspace")
    walk = await _walk(reader, entity, depth)
    selected: list[str] = []
    for layer in walk.layers:
        room = max_nodes - len(selected)
        if room <= 0:
            break
        if len(layer) > room:
            degrees = await reader.degrees(layer)
            layer = heapq.nsmallest(room, layer, key=lambda node: (-degrees.get(node, 0), node))
        selected += layer
    chosen = set(selected)
    pairs = _pairs(selected, chosen, walk.adjacency)
    data, degrees, edges = await reader.nodes(selected), await reader.degrees(selected), await reader.edges(pairs)
    nodes = []
    for name in selected:
        node = data.get(name, {})
        kind = entity_type(node)
        nodes.append(
            {
                "id": name, "label": label_of(name, kind), "type": kind, "file": first_file(node.get("file_path")),
                "line": location(node)[0], "degree": degrees.get(name, 0),
            }
        )  # fmt: skip
    links = []
    for a, b in pairs:
        edge = edges.get((a, b), {})
        relation = relation_of(edge)
        source, target = direction(a, b, edge, relation)
        links.append({"id": f"{source}->{target}", "source": source, "target": target, "relation": relation})
    total_edges = _count_edges(walk.seen, walk.adjacency)
    return {
        "nodes": nodes,
        "edges": links,
        "truncated": len(selected) < len(walk.seen) or not walk.complete,
        "total_nodes": len(walk.seen),
        "total_edges": total_edges,
    }


async def entity(reader: GraphReader, chunks: Any, name: str) -> dict[str, Any]:
    """An entity with its description, location and the text of its first chunks (`chunks`: the text_chunks
    storage), capped at MAX_CHUNKS chunks of MAX_CHUNK_CHARS characters: `truncated` says when something was cut."""
    data = (await reader.nodes([name])).get(name)
    if data is None:
        raise EntityNotFound(f"no entity {name[:200]!r} in this workspace")
    ids = [part for part in str(data.get("source_id") or "").split(GRAPH_FIELD_SEP) if part]
    truncated = len(ids) > MAX_CHUNKS
    ids = ids[:MAX_CHUNKS]
    texts = []
    for chunk_id, chunk in zip(ids, await chunks.get_by_ids(ids) if ids else [], strict=True):
        if chunk is None:
            continue
        text = str(chunk.get("content") or "")
        truncated = truncated or len(text) > MAX_CHUNK_CHARS
        texts.append({"id": chunk_id, "file": first_file(chunk.get("file_path")), "text": text[:MAX_CHUNK_CHARS]})
    start, end = location(data)
    return {
        "id": name,
        "name": name,
        "type": entity_type(data),
        "description": str(data.get("description") or ""),
        "file": first_file(data.get("file_path")),
        "line_start": start,
        "line_end": end,
        "chunks": texts,
        "truncated": truncated,
    }
