"""The local stack's graph storage: LightRAG's NetworkX storage, whose writes cost what they change, not the graph.

`NetworkXStorage` rewrites its whole GraphML file at the end of every insert (`index_done_callback`): indexing a
repository in batches costs a write of the growing graph per batch (quadratic in the repository's size), and one
changed file costs a write of the whole graph (20 s for 270 000 nodes and 540 000 edges). This subclass:

- defers writes inside `deferred_graph_writes()`: an insert only marks the graph as changed; the changes are
  persisted by `commit_graph` (the worker calls it before it records files as indexed), by a later insert made
  outside such a block, when the workspace closes, or at the latest `commit_delay` seconds after the first
  deferred change (a writer that never commits loses nothing but that delay);
- persists a commit as an append to a journal beside the GraphML file (`<file>.journal`, one JSON line per node
  or edge changed since the last commit: its attributes, or that it is gone), written and fsynced before the
  commit returns, unless the journal would then hold more than `rewrite_share` of the graph's nodes and edges:
  the GraphML file is then rewritten whole (LightRAG's own write) and the journal removed;
- replays the journal onto the GraphML file when the workspace opens, and folds it into the file when the
  workspace closes, so that at rest the GraphML file holds the whole graph in LightRAG's format.

Nodes and edges changed are tracked by overriding the storage's mutators (a removed node's edges with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from lightrag.kg import STORAGE_ENV_REQUIREMENTS, STORAGE_IMPLEMENTATIONS, STORAGES
from lightrag.kg.networkx_impl import NetworkXStorage

logger = logging.getLogger(__name__)

_DEFERRING: ContextVar[bool] = ContextVar("sparkctl_deferred_graph_writes", default=False)
DEFAULT_COMMIT_DELAY = 600.0
REWRITE_SHARE = 0.25
JOURNAL_SUFFIX = ".journal"

Edge = tuple[str, str]


@contextlib.contextmanager
def deferred_graph_writes() -> Iterator[None]:
    """Graph writes of the storages flushed in this block (and in the tasks it starts) wait for `commit_graph`."""
    token = _DEFERRING.set(True)
    try:
        yield
    finally:
        _DEFERRING.reset(token)


def _edge(source: str, target: str) -> Edge:
    return (source, target) if source <= target else (target, source)


class BulkNetworkXStorage(NetworkXStorage):  # type: ignore[misc]
    """NetworkXStorage whose writes can be deferred, and are journaled (see the module docstring)."""

    commit_delay: float = DEFAULT_COMMIT_DELAY
    rewrite_share: float = REWRITE_SHARE
    _pending: bool = False
    _timer: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._changed_nodes: set[str] = set()
        self._changed_edges: set[Edge] = set()
        self.journal = Path(f"{self._graphml_xml_file}{JOURNAL_SUFFIX}")
        self.journaled = replay_journal(self._graph, self.journal)
        """Records in the journal: changes the GraphML file does not hold yet."""
        if self.journaled:
            logger.info("[%s] replayed %d graph changes from %s", self.workspace, self.journaled, self.journal)

    @property
    def pending(self) -> bool:
        """Whether the graph holds changes that neither its file nor its journal do."""
        return self._pending

    async def upsert_node(self, node_id: str, node_data: dict[str, str]) -> None:
        await super().upsert_node(node_id, node_data)
        self._changed_nodes.add(node_id)

    async def upsert_nodes_batch(self, nodes: list[tuple[str, dict[str, str]]]) -> None:
        await super().upsert_nodes_batch(nodes)
        self._changed_nodes.update(node_id for node_id, _ in nodes)

    async def upsert_edge(self, source_node_id: str, target_node_id: str, edge_data: dict[str, str]) -> None:
        await super().upsert_edge(source_node_id, target_node_id, edge_data)
        self._changed_nodes.update((source_node_id, target_node_id))
        self._changed_edges.add(_edge(source_node_id, target_node_id))

    async def upsert_edges_batch(self, edges: list[tuple[str, str, dict[str, str]]]) -> None:
        await super().upsert_edges_batch(edges)
        for source, target, _ in edges:
            self._changed_nodes.update((source, target))
            self._changed_edges.add(_edge(source, target))

    async def delete_node(self, node_id: str) -> None:
        await self._mark_removed([node_id])
        await super().delete_node(node_id)

    async def remove_nodes(self, nodes: list[str]) -> None:
        await self._mark_removed(nodes)
        await super().remove_nodes(nodes)

    async def remove_edges(self, edges: list[tuple[str, str]]) -> None:
        self._changed_edges.update(_edge(source, target) for source, target in edges)
        await super().remove_edges(edges)

    async def _mark_removed(self, nodes: list[str]) -> None:
        """A removed node takes its edges with it: they are journaled as removed too."""
        graph = await self._get_graph()
        for node in nodes:
            if graph.has_node(node):
                self._changed_edges.update(_edge(node, other) for other in graph.neighbors(node))
        self._changed_nodes.update(nodes)

    async def index_done_callback(self) -> bool:
        if _DEFERRING.get():
            self._pending = True
            if self._timer is None or self._timer.done():
                self._timer = asyncio.create_task(self._commit_later(), name=f"graph commit {self.workspace}")
            return True
        return await self._write()

    async def commit(self) -> bool:
        """Persist deferred changes if there are any; whether there were."""
        if not self._pending:
            return False
        await self._write()
        return True

    async def drop(self) -> dict[str, str]:
        self._cancel_timer()
        self._pending = False
        self._changed_nodes.clear()
        self._changed_edges.clear()
        result: dict[str, str] = await super().drop()
        if result.get("status") == "success":
            self.journal.unlink(missing_ok=True)
            self.journaled = 0
        return result

    async def finalize(self) -> None:
        """Persist what is pending and fold the journal into the GraphML file."""
        self._cancel_timer()
        initialized = self._storage_lock is not None
        if initialized and (self._pending or self._changed_nodes or self._changed_edges or self.journaled):
            await self._rewrite()
        await super().finalize()

    async def _write(self) -> bool:
        """Persist the changes since the last write: appended to the journal, or the whole file rewritten."""
        self._pending = False
        self._cancel_timer()
        if not self._changed_nodes and not self._changed_edges:
            return True
        graph = await self._get_graph()
        changes = len(self._changed_nodes) + len(self._changed_edges)
        if self.journaled + changes > self.rewrite_share * (graph.number_of_nodes() + graph.number_of_edges()):
            return await self._rewrite()
        nodes, edges = self._changed_nodes, self._changed_edges
        self._changed_nodes, self._changed_edges = set(), set()
        lines = journal_lines(graph, nodes, edges)
        try:
            await asyncio.to_thread(_append, self.journal, lines)
        except BaseException:
            self._changed_nodes |= nodes
            self._changed_edges |= edges
            self._pending = True
            raise
        self.journaled += len(lines)
        return True

    async def _rewrite(self) -> bool:
        """LightRAG's own write of the whole GraphML file; the journal it now holds is removed."""
        self._pending = False
        self._cancel_timer()
        nodes, edges = self._changed_nodes, self._changed_edges
        self._changed_nodes, self._changed_edges = set(), set()
        try:
            written: bool = await super().index_done_callback()
        except BaseException:
            self._changed_nodes |= nodes
            self._changed_edges |= edges
            self._pending = True
            raise
        self.journal.unlink(missing_ok=True)
        self.journaled = 0
        return written

    async def _commit_later(self) -> None:
        await asyncio.sleep(self.commit_delay)
        self._timer = None
        try:
            await self.commit()
        except Exception:
            logger.exception("[%s] writing the graph after deferred inserts failed", self.workspace)

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()


def journal_lines(graph: Any, nodes: set[str], edges: set[Edge]) -> list[str]:
    """One JSON line per node, then per edge: `["n", id, attributes]`, `["n", id]` for a removed node,
    `["e", source, target, attributes]`, `["e", source, target]` for a removed edge."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines = [encode(["n", node, graph.nodes[node]] if graph.has_node(node) else ["n", node]) for node in sorted(nodes)]
    for source, target in sorted(edges):
        data = graph.edges[source, target] if graph.has_edge(source, target) else None
        lines.append(encode(["e", source, target, data] if data is not None else ["e", source, target]))
    return lines


def _append(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as journal:
        journal.write("".join(f"{line}\n" for line in lines))
        journal.flush()
        os.fsync(journal.fileno())


def replay_journal(graph: Any, path: Path) -> int:
    """Apply a journal's records to `graph`, in order; how many there were. A last line cut short by a crash
    (its commit never returned) is cut off the file, so that later appends start on a line of their own."""
    if not path.is_file():
        return 0
    records = 0
    kept = 0
    with path.open("rb") as journal:
        for line in journal:
            try:
                record = json.loads(line) if line.endswith(b"\n") else None
            except json.JSONDecodeError:
                record = None
            if record is None:
                logger.warning("%s: cutting off an incomplete last record at byte %d", path, kept)
                break
            _apply(graph, record)
            records += 1
            kept += len(line)
    if kept != path.stat().st_size:
        os.truncate(path, kept)
    return records


def _apply(graph: Any, record: list[Any]) -> None:
    if record[0] == "n":
        node = record[1]
        if len(record) == 2:
            if graph.has_node(node):
                graph.remove_node(node)
            return
        if graph.has_node(node):
            graph.nodes[node].clear()
        graph.add_node(node, **record[2])
        return
    source, target = record[1], record[2]
    if len(record) == 3:
        if graph.has_edge(source, target):
            graph.remove_edge(source, target)
        return
    if graph.has_edge(source, target):
        graph.edges[source, target].clear()
    graph.add_edge(source, target, **record[3])


async def commit_graph(graph: object) -> bool:
    """Persist a workspace's deferred graph changes if there are any (other graph storages write as they go)."""
    if isinstance(graph, BulkNetworkXStorage):
        return await graph.commit()
    return False


def register_graph_storage() -> str:
    """Make the storage known to LightRAG by name, as its own storages are; the name."""
    name = BulkNetworkXStorage.__name__
    STORAGES.setdefault(name, __name__)
    STORAGE_ENV_REQUIREMENTS.setdefault(name, [])
    implementations = STORAGE_IMPLEMENTATIONS["GRAPH_STORAGE"]["implementations"]
    if name not in implementations:
        implementations.append(name)
    return name
