"""The local stack's graph storage: LightRAG's NetworkX storage, whose GraphML file can be written once per bulk
write instead of once per insert.

`NetworkXStorage` rewrites its whole GraphML file at the end of every insert (`index_done_callback`), so indexing
a repository in batches costs a write of the growing graph per batch: quadratic in the repository's size. Inside
`deferred_graph_writes()` an insert only marks the graph as changed; the file is written by `commit_graph` (the
worker calls it before it records files as indexed), by a later insert made outside such a block, when the
workspace closes, or at the latest `commit_delay` seconds after the first deferred change (a writer that never
commits loses nothing but that delay). What is stored, and its format, is LightRAG's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar

from lightrag.kg import STORAGE_ENV_REQUIREMENTS, STORAGE_IMPLEMENTATIONS, STORAGES
from lightrag.kg.networkx_impl import NetworkXStorage

logger = logging.getLogger(__name__)

_DEFERRING: ContextVar[bool] = ContextVar("sparkctl_deferred_graph_writes", default=False)
DEFAULT_COMMIT_DELAY = 600.0


@contextlib.contextmanager
def deferred_graph_writes() -> Iterator[None]:
    """Graph writes of the storages flushed in this block (and in the tasks it starts) wait for `commit_graph`."""
    token = _DEFERRING.set(True)
    try:
        yield
    finally:
        _DEFERRING.reset(token)


class BulkNetworkXStorage(NetworkXStorage):  # type: ignore[misc]
    """NetworkXStorage whose writes can be deferred and then made once (see the module docstring)."""

    commit_delay: float = DEFAULT_COMMIT_DELAY
    _pending: bool = False
    _timer: asyncio.Task[None] | None = None

    @property
    def pending(self) -> bool:
        """Whether the graph holds changes its file does not."""
        return self._pending

    async def index_done_callback(self) -> bool:
        if _DEFERRING.get():
            self._pending = True
            if self._timer is None or self._timer.done():
                self._timer = asyncio.create_task(self._commit_later(), name=f"graph commit {self.workspace}")
            return True
        return await self._write()

    async def commit(self) -> bool:
        """Write the graph file if deferred changes wait for it; whether it was written."""
        if not self._pending:
            return False
        await self._write()
        return True

    async def drop(self) -> dict[str, str]:
        self._cancel_timer()
        self._pending = False
        return await super().drop()  # type: ignore[no-any-return]

    async def finalize(self) -> None:
        self._cancel_timer()
        if self._pending:
            await self._write()
        await super().finalize()

    async def _write(self) -> bool:
        self._pending = False
        self._cancel_timer()
        try:
            return await super().index_done_callback()  # type: ignore[no-any-return]
        except BaseException:
            self._pending = True
            raise

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


async def commit_graph(graph: object) -> bool:
    """Write a workspace's graph if deferred changes wait for it (other graph storages write as they go)."""
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
