"""The open workspaces: created on first use, one at a time per workspace, least recently used closed first.

A request leases its workspace for as long as it runs. When more than `capacity` workspaces are open,
the least recently used ones are evicted; an evicted workspace that is still leased is retired
instead and closed when its last lease ends, and the same workspace is not opened again until then
(two live instances of one workspace would write the same graph).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

logger = logging.getLogger(__name__)


class Closeable(Protocol):
    async def close(self) -> None: ...


T = TypeVar("T", bound=Closeable)


@dataclass(eq=False)
class _Entry(Generic[T]):
    value: T
    leases: int = 0
    retired: bool = False
    closing: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class WorkspaceRegistry(Generic[T]):
    def __init__(self, opener: Callable[[str], Awaitable[T]], capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._opener = opener
        self._capacity = capacity
        self._open: OrderedDict[str, _Entry[T]] = OrderedDict()
        self._retired: dict[str, _Entry[T]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def open_workspaces(self) -> list[str]:
        """Open workspace names, least recently used first."""
        return list(self._open)

    @contextlib.asynccontextmanager
    async def lease(self, name: str) -> AsyncIterator[T]:
        """The workspace's open instance, opened if needed, kept open until the block ends."""
        entry = await self._acquire(name)
        try:
            yield entry.value
        finally:
            entry.leases -= 1
            if entry.retired and entry.leases == 0:
                await self._close(name, entry)

    async def close(self) -> None:
        """Close every workspace (at shutdown)."""
        entries = [*self._open.items(), *self._retired.items()]
        self._open.clear()
        for name, entry in entries:
            await self._close(name, entry)

    async def _acquire(self, name: str) -> _Entry[T]:
        entry = self._open.get(name)
        if entry is None:
            async with self._locks.setdefault(name, asyncio.Lock()):
                entry = self._open.get(name)
                if entry is None:
                    retired = self._retired.get(name)
                    if retired is not None:
                        await retired.closed.wait()
                    entry = _Entry(await self._opener(name))
                    self._open[name] = entry
        self._open.move_to_end(name)
        entry.leases += 1
        await self._evict()
        return entry

    async def _evict(self) -> None:
        while len(self._open) > self._capacity:
            name, entry = self._open.popitem(last=False)
            logger.info("evicting workspace %s (%d open at most)", name, self._capacity)
            if entry.leases:
                entry.retired = True
                self._retired[name] = entry
            else:
                await self._close(name, entry)

    async def _close(self, name: str, entry: _Entry[T]) -> None:
        if entry.closing:
            await entry.closed.wait()
            return
        entry.closing = True
        try:
            await entry.value.close()
        except Exception:
            logger.exception("closing workspace %s failed", name)
        finally:
            entry.closed.set()
            if self._retired.get(name) is entry:
                del self._retired[name]
