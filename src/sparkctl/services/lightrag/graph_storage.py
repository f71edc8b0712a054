"""The local stack's graph storage: LightRAG's NetworkX storage, kept in a log whose writes cost what they change.

`NetworkXStorage` rewrites its whole GraphML file at the end of every insert (`index_done_callback`) and parses it
whole when a workspace opens: 42 s each way, and a 5 GB peak, for a repository of 10 000 files (280 000 nodes and
550 000 edges). This subclass keeps the graph in a log beside where the GraphML file would be
(`graph_<namespace>.jsonl`), one JSON line per node or edge: its attributes, or that it is gone.

- A write appends the state of each node and edge changed since the last one, fsynced before it returns; the first
  write of a new workspace is its whole graph, so indexing a repository writes each record once.
- When the log would hold more than `compact_factor` records for each node and edge of the graph, it is rewritten
  instead, one record per node and edge, and replaces the old one atomically: reopening reads at most that many.
- Opening the workspace replays the log (a last line cut short by a crash is cut off). A workspace written by an
  earlier version (a GraphML file and its journal) is read once and moved into the log.
- Writes can be deferred inside `deferred_graph_writes()`: an insert only marks the graph as changed; the changes
  are persisted by `commit_graph` (the worker calls it before it records files as indexed), by a later insert
  made outside such a block, when the workspace closes, or at the latest `commit_delay` seconds after the first
  deferred change (a writer that never commits loses nothing but that delay).

Nodes and edges changed are tracked by overriding the storage's mutators (a removed node's edges with it). The
records are made and written off the event loop (uncancellably) while LightRAG's commit gate holds every graph
operation back, as LightRAG's own write does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from lightrag.file_atomic import atomic_write, reap_orphan_tmp_files
from lightrag.kg import STORAGE_ENV_REQUIREMENTS, STORAGE_IMPLEMENTATIONS, STORAGES
from lightrag.kg.networkx_impl import NetworkXStorage
from lightrag.utils import run_in_storage_io

logger = logging.getLogger(__name__)

_DEFERRING: ContextVar[bool] = ContextVar("sparkctl_deferred_graph_writes", default=False)
DEFAULT_COMMIT_DELAY = 600.0
COMPACT_FACTOR = 2.0
LOG_SUFFIX = ".jsonl"
LEGACY_JOURNAL_SUFFIX = ".journal"

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
    """NetworkXStorage kept in a log, whose writes can be deferred (see the module docstring)."""

    commit_delay: float = DEFAULT_COMMIT_DELAY
    compact_factor: float = COMPACT_FACTOR
    _pending: bool = False
    _timer: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._changed_nodes: set[str] = set()
        self._changed_edges: set[Edge] = set()
        graphml = Path(self._graphml_xml_file)
        self.log = graphml.with_suffix(LOG_SUFFIX)
        reap_orphan_tmp_files(str(self.log), workspace=self.workspace or "_")
        self.logged = replay_log(self._graph, self.log)
        """Records in the log: what reopening the workspace reads."""
        if graphml.is_file():
            self._move_into_log(graphml)
        elif self.logged:
            logger.info(
                "[%s] graph of %d nodes and %d edges read from %d records of %s",
                self.workspace,
                self._graph.number_of_nodes(),
                self._graph.number_of_edges(),
                self.logged,
                self.log,
            )

    def _move_into_log(self, graphml: Path) -> None:
        """A workspace of an earlier version: its GraphML file (LightRAG has read it) and journal, into the log."""
        legacy_journal = Path(f"{graphml}{LEGACY_JOURNAL_SUFFIX}")
        replay_log(self._graph, legacy_journal)
        self.logged = write_log(self.log, graph_records(self._graph))
        legacy_journal.unlink(missing_ok=True)
        graphml.unlink()
        logger.info("[%s] graph moved from %s into %s", self.workspace, graphml, self.log)

    @property
    def pending(self) -> bool:
        """Whether the graph holds changes that its log does not."""
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
        """A removed node takes its edges with it: they are logged as removed too."""
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
            self.log.unlink(missing_ok=True)
            self.logged = 0
        return result

    async def finalize(self) -> None:
        """Persist what is pending."""
        self._cancel_timer()
        if self._storage_lock is not None:
            await self._write()
        await super().finalize()

    async def _write(self) -> bool:
        """Persist the changes since the last write: appended to the log, or the log rewritten whole."""
        self._pending = False
        self._cancel_timer()
        if not self._changed_nodes and not self._changed_edges:
            return True
        async with self._storage_lock:
            nodes, edges = self._changed_nodes, self._changed_edges
            self._changed_nodes, self._changed_edges = set(), set()
            gate = self._gate()
            gate.clear()
            try:
                await run_in_storage_io(self._persist, nodes, edges)
            except BaseException:
                self._changed_nodes |= nodes
                self._changed_edges |= edges
                self._pending = True
                raise
            finally:
                gate.set()
        return True

    def _persist(self, nodes: set[str], edges: set[Edge]) -> None:
        """In a thread, while the commit gate holds graph operations back: append, or compact."""
        graph = self._graph
        size = graph.number_of_nodes() + graph.number_of_edges()
        if self.logged + len(nodes) + len(edges) > self.compact_factor * size:
            self.logged = write_log(self.log, graph_records(graph))
        else:
            self.logged += append_log(self.log, change_records(graph, nodes, edges))

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


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def change_records(graph: Any, nodes: Iterable[str], edges: Iterable[Edge]) -> Iterator[str]:
    """One JSON line per node, then per edge, in its state in `graph`: `["n", id, attributes]`, `["n", id]` for a
    removed node, `["e", source, target, attributes]`, `["e", source, target]` for a removed edge."""
    for node in nodes:
        yield _encode(["n", node, graph.nodes[node]] if graph.has_node(node) else ["n", node])
    for source, target in edges:
        data = graph.edges[source, target] if graph.has_edge(source, target) else None
        yield _encode(["e", source, target, data] if data is not None else ["e", source, target])


def graph_records(graph: Any) -> Iterator[str]:
    """The whole graph as records: one per node, then one per edge."""
    for node, data in graph.nodes(data=True):
        yield _encode(["n", node, data])
    for source, target, data in graph.edges(data=True):
        yield _encode(["e", source, target, data])


def append_log(path: Path, records: Iterable[str]) -> int:
    """Append records to the log and fsync it; how many."""
    with path.open("a", encoding="utf-8") as log:
        count = _write_records(log, records)
        log.flush()
        os.fsync(log.fileno())
    return count


def write_log(path: Path, records: Iterable[str]) -> int:
    """Replace the log with these records, atomically; how many."""
    written = 0

    def write(tmp: str) -> None:
        nonlocal written
        with open(tmp, "w", encoding="utf-8") as log:
            written = _write_records(log, records)
            log.flush()
            os.fsync(log.fileno())

    atomic_write(str(path), write, path.parent.name)
    return written


def _write_records(log: Any, records: Iterable[str]) -> int:
    count = 0
    batch: list[str] = []
    for record in records:
        batch.append(record)
        if len(batch) == 10_000:
            log.write("\n".join(batch) + "\n")
            count += len(batch)
            batch.clear()
    if batch:
        log.write("\n".join(batch) + "\n")
        count += len(batch)
    return count


def replay_log(graph: Any, path: Path) -> int:
    """Apply a log's records to `graph`, in order; how many there were. A last line cut short by a crash (its
    write never returned) is cut off the file, so that later appends start on a line of their own."""
    if not path.is_file():
        return 0
    records = 0
    kept = 0
    with path.open("rb") as log:
        for line in log:
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
