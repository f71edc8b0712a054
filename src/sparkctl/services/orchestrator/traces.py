"""The memory trace of an answer: for each tier, how it fared, how long it took and what it put into the prompt,
with the backend that answered. Kept in Redis under the answer's completion id for SPARKCTL_TRACE_TTL_SECONDS;
an answer whose trace Redis did not take still goes out, and the loss is logged and counted."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter

from sparkctl.services.orchestrator.memory.service import Recollection
from sparkctl.services.orchestrator.routing import text_of

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

KEY_PREFIX = "sparkctl:trace"
INDEX_PREFIX = "sparkctl:traces"
"""A set per workspace of its traces' ids, so that deleting the workspace deletes them."""
TIERS = ("working", "recall", "archival")
MAX_ITEM_CHARS = 4000
"""A piece longer than this is kept in the trace cut, with an ellipsis."""
SAVE_TIMEOUT = 1.0
_KINDS = {"conversations": "summary", "entities": "entity", "relations": "entity", "sources": "chunk"}
_TIER_OF_SECTION = {"conversations": "recall", "entities": "archival", "relations": "archival", "sources": "archival"}


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ITEM_CHARS else text[: MAX_ITEM_CHARS - 1] + "…"


def tiers_of(recollection: Recollection, session: str) -> list[dict[str, Any]]:
    """Each tier's status, time and items: the turns working memory gave, the summaries recall gave and the
    graph pieces archival gave, those the memory block held."""
    items: dict[str, list[dict[str, Any]]] = {tier: [] for tier in TIERS}
    for message in recollection.history:
        text = f"{message.get('role', '')}: {text_of(message.get('content'))}"
        items["working"].append({"kind": "turn", "text": _cut(text), "entity": None, "session": session})
    for piece in recollection.pieces:
        tier = _TIER_OF_SECTION.get(piece.section, "archival")
        kind = _KINDS.get(piece.section, "chunk")
        items[tier].append({"kind": kind, "text": _cut(piece.text), "entity": piece.entity, "session": piece.session})
    return [
        {
            "tier": tier,
            "status": recollection.statuses.get(tier, "off"),
            "ms": recollection.timings.get(tier),
            "items": items[tier],
        }
        for tier in TIERS
    ]


def trace_of(
    completion_id: str, *, session: str, workspace: str, model: str, backend: str, recollection: Recollection
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "session": session,
        "workspace": workspace,
        "model": model,
        "backend": backend,
        "created": int(time.time()),
        "tiers": tiers_of(recollection, session),
    }


def lost_traces_counter(registry: CollectorRegistry) -> Counter:
    return Counter(
        "sparkctl_traces_lost_total", "Answers whose memory trace Redis did not take (the answer went out)",
        registry=registry,
    )  # fmt: skip


class TraceStore:
    def __init__(self, redis: Redis, ttl: int, lost: Counter | None = None) -> None:
        self.redis = redis
        self.ttl = ttl
        self.lost = lost

    @staticmethod
    def key(completion_id: str) -> str:
        return f"{KEY_PREFIX}:{completion_id}"

    async def save(self, trace: dict[str, Any]) -> bool:
        """Keep the trace; False (logged and counted) when Redis did not take it in time."""
        index = f"{INDEX_PREFIX}:{trace['workspace']}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(self.key(trace["id"]), json.dumps(trace), ex=self.ttl)
                pipe.sadd(index, trace["id"])
                pipe.expire(index, self.ttl)
                await asyncio.wait_for(pipe.execute(), SAVE_TIMEOUT)
        except Exception as exc:
            log.warning("the memory trace of answer %s was lost: Redis did not take it (%s)", trace["id"], exc)
            if self.lost is not None:
                self.lost.inc()
            return False
        return True

    async def load(self, completion_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.key(completion_id))
        return json.loads(raw) if raw else None

    async def forget_workspace(self, workspace: str) -> None:
        index = f"{INDEX_PREFIX}:{workspace}"
        ids = [item.decode() if isinstance(item, bytes) else str(item) for item in await self.redis.smembers(index)]
        keys = [self.key(completion_id) for completion_id in ids]
        for start in range(0, len(keys), 500):
            await self.redis.delete(*keys[start : start + 500])
        await self.redis.delete(index)
