"""Promotions (a session's summary, then its summary into the graph) queued per workspace and retried
until done.

LightRAG takes one change to a workspace at a time and answers 409 while it is busy, so the promotions of
one workspace run one after another; one that fails goes to the back of its workspace's queue, which waits
with back-off before it runs again. A periodic
scan of the sessions' counters in PostgreSQL queues what is due but queued nowhere: work left by a stop,
a crash, or a process that gave up. The claims in PostgreSQL keep two processes off the same session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sparkctl.services.orchestrator.memory.outbox import Backoff

log = logging.getLogger(__name__)

Promote = Callable[[str, str], Awaitable[None]]
FindDue = Callable[[], Awaitable[list[tuple[str, str]]]]


class Promotions:
    def __init__(self, promote: Promote, find_due: FindDue, *, scan_every: float, backoff: Backoff) -> None:
        self._promote = promote
        self._find_due = find_due
        self._scan_every = scan_every
        self._backoff = backoff
        self._pending: dict[str, dict[str, int]] = {}
        """workspace → its sessions in the order asked, each with how often it was asked."""
        self._workers: dict[str, asyncio.Task[None]] = {}
        self.failures = 0

    def request(self, workspace: str, session: str) -> None:
        """Queue a promotion check of the session; a request made while it runs makes it run once more."""
        sessions = self._pending.setdefault(workspace, {})
        sessions[session] = sessions.get(session, 0) + 1
        if workspace not in self._workers:
            self._workers[workspace] = asyncio.ensure_future(self._work(workspace))

    @property
    def queued(self) -> int:
        return sum(len(sessions) for sessions in self._pending.values())

    async def scan(self) -> None:
        """Queue every promotion PostgreSQL says is due, now and then every `scan_every` seconds."""
        while True:
            try:
                for workspace, session in await self._find_due():
                    self.request(workspace, session)
            except Exception as exc:
                log.warning("could not look for due memory promotions: %s", exc)
            await asyncio.sleep(self._scan_every)

    async def idle(self, timeout: float) -> None:
        """Wait until nothing is queued (at shutdown, and in tests)."""
        workers = list(self._workers.values())
        if workers:
            await asyncio.wait(workers, timeout=timeout)

    async def close(self) -> None:
        for worker in list(self._workers.values()):
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _work(self, workspace: str) -> None:
        sessions = self._pending[workspace]
        backoff = Backoff(self._backoff.first, self._backoff.limit)
        try:
            while sessions:
                session, asked = next(iter(sessions.items()))
                try:
                    await self._promote(workspace, session)
                except Exception as exc:
                    self.failures += 1
                    delay = backoff.next()
                    log.warning("promoting session %s of %s failed, again in %.1fs: %s", session, workspace, delay, exc)
                    sessions[session] = sessions.pop(session, asked)
                    await asyncio.sleep(delay)
                    continue
                backoff.reset()
                if sessions.get(session) == asked:
                    del sessions[session]
        finally:
            self._workers.pop(workspace, None)
            if not sessions:
                self._pending.pop(workspace, None)
