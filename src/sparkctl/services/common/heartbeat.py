"""The workers' heartbeat in Redis: each worker says it consumes jobs, the orchestrator's /ready reads it.

One sorted set holds every worker instance, scored by when its heartbeat goes stale (Redis's own clock, so
workers and the orchestrator never compare clocks of their own). A worker refreshes its entry well inside its
TTL and removes it when it stops cleanly; an entry of a worker that died stays stale and is pruned.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

KEY = "sparkctl:workers"


def instance_name(consumer: str) -> str:
    """One worker process: its consumer, host and pid."""
    return f"{consumer}@{socket.gethostname()}:{os.getpid()}"


async def _now(redis: Redis) -> float:
    seconds, micros = await redis.time()
    return float(seconds) + float(micros) / 1e6


async def beat(redis: Redis, instance: str, ttl: float) -> None:
    """Say that `instance` is alive for the next `ttl` seconds; prune entries that went stale."""
    now = await _now(redis)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(KEY, {instance: now + ttl})
        pipe.zremrangebyscore(KEY, "-inf", now)
        await pipe.execute()


async def leave(redis: Redis, instance: str) -> None:
    """Remove `instance` at once (a clean stop)."""
    await redis.zrem(KEY, instance)


async def live_workers(redis: Redis) -> int:
    """How many workers have a heartbeat that is still fresh."""
    now = await _now(redis)
    return int(await redis.zcount(KEY, f"({now}", "+inf"))
