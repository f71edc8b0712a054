"""The turn outbox: an answered turn is queued in Redis in the same transaction that puts it into working
memory, and a background drain writes the queue to PostgreSQL in order.

A turn answered while PostgreSQL is down is stored once it is back; each turn carries an id, so a turn
written twice (a drain cut off after the write, two orchestrators draining at once) is stored once. A turn
PostgreSQL refuses for what it holds is set aside in a second list, named in the log, and never blocks the
turns behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

log = logging.getLogger(__name__)

OUTBOX_KEY = "sparkctl:outbox:turns"
REFUSED_KEY = "sparkctl:outbox:refused"


@dataclass(frozen=True)
class PendingTurn:
    workspace: str
    session: str
    messages: list[dict[str, Any]]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def encode(self) -> str:
        data = {"id": self.id, "workspace": self.workspace, "session": self.session, "messages": self.messages}
        return json.dumps(data)

    @classmethod
    def decode(cls, raw: bytes | str) -> PendingTurn:
        data = json.loads(raw)
        return cls(data["workspace"], data["session"], list(data["messages"]), str(data["id"]))


Store = Callable[[PendingTurn], Awaitable[None]]


class TurnOutbox:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.arrived = asyncio.Event()

    def queue(self, pipe: Pipeline, turn: PendingTurn) -> None:
        pipe.rpush(OUTBOX_KEY, turn.encode())

    async def head(self) -> bytes | None:
        raw: bytes | None = await self.redis.lindex(OUTBOX_KEY, 0)
        return raw

    async def done(self, raw: bytes) -> None:
        await self.redis.lrem(OUTBOX_KEY, 1, raw)

    async def refuse(self, raw: bytes) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lrem(OUTBOX_KEY, 1, raw)
            pipe.rpush(REFUSED_KEY, raw)
            await pipe.execute()

    async def depth(self) -> int:
        return int(await self.redis.llen(OUTBOX_KEY))


class Refused(Exception):
    """The store will never take this turn as it is (not a passing outage)."""


@dataclass
class Backoff:
    first: float = 0.2
    limit: float = 5.0
    current: float = 0.0

    def next(self) -> float:
        self.current = self.first if self.current == 0 else min(self.current * 2, self.limit)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


async def drain(outbox: TurnOutbox, store: Store, *, idle: float = 1.0, backoff: Backoff | None = None) -> None:
    """Write the outbox's turns to the store, oldest first, until cancelled. A failing store or Redis is
    retried with back-off; `store` raises `Refused` for a turn that can never be stored."""
    backoff = backoff or Backoff()
    while True:
        try:
            raw = await outbox.head()
            if raw is None:
                outbox.arrived.clear()
                await _wait(outbox.arrived, idle)
                continue
            try:
                await store(PendingTurn.decode(raw))
            except (Refused, ValueError, KeyError, TypeError) as exc:
                log.error("a chat turn cannot be stored and was set aside in Redis list %s: %s", REFUSED_KEY, exc)
                await outbox.refuse(raw)
            else:
                await outbox.done(raw)
            backoff.reset()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delay = backoff.next()
            log.warning("chat turns wait in the outbox (retrying in %.1f s): %s", delay, exc)
            await asyncio.sleep(delay)


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
