"""Working memory: a session's recent turns in Redis, with a time to live and a cap."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

KEY_PREFIX = "sparkctl:turns"


class WorkingMemory:
    def __init__(self, redis: Redis, *, ttl: int, max_turns: int) -> None:
        self.redis = redis
        self.ttl = ttl
        self.max_messages = 2 * max_turns
        """A turn is a question and its answer."""

    @staticmethod
    def key(workspace: str, session: str) -> str:
        return f"{KEY_PREFIX}:{workspace}:{session}"

    async def turns(self, workspace: str, session: str) -> list[dict[str, Any]]:
        """The session's stored messages, oldest first."""
        raw = await self.redis.lrange(self.key(workspace, session), 0, -1)
        return [json.loads(item) for item in raw]

    async def append(self, workspace: str, session: str, messages: Sequence[dict[str, Any]]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            self.queue_append(pipe, workspace, session, messages)
            await pipe.execute()

    def queue_append(self, pipe: Pipeline, workspace: str, session: str, messages: Sequence[dict[str, Any]]) -> None:
        """Add the append to a pipeline, so that it is stored with whatever else the pipeline holds or not at all."""
        key = self.key(workspace, session)
        pipe.rpush(key, *(json.dumps(message) for message in messages))
        pipe.ltrim(key, -self.max_messages, -1)
        pipe.expire(key, self.ttl)

    async def forget(self, workspace: str, session: str) -> None:
        await self.redis.delete(self.key(workspace, session))
