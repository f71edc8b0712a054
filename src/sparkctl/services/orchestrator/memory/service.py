"""The three memory tiers behind a chat request.

Before the answer, the tiers are asked in parallel, each within its time budget: working memory (this
session's turns, Redis), recall (summaries of the workspace's other sessions, PostgreSQL + pgvector)
and archival (the workspace's LightRAG graph). A tier that is slow or down is skipped and named in the
X-Sparkctl-Memory header; the chat answers either way. No chat model is called on this path (recall
embeds the question: the embed model or the built-in hash embedder).

After the answer, before its last byte: the turn goes into working memory and the outbox in one Redis
transaction (outbox.py), so the next request sees it and PostgreSQL gets it even after an outage; then
summaries and archival are queued per workspace when their thresholds are crossed (promotions.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psycopg_pool import AsyncConnectionPool

from sparkctl.services.common.embedding import hash_embed
from sparkctl.services.common.llm import ChatModel, LlmClient
from sparkctl.services.common.schema import migrate
from sparkctl.services.orchestrator.memory import sessions
from sparkctl.services.orchestrator.memory.archival import Archive, Retrieved
from sparkctl.services.orchestrator.memory.context import fitting, memory_block
from sparkctl.services.orchestrator.memory.outbox import Backoff, PendingTurn, Refused, TurnOutbox, drain
from sparkctl.services.orchestrator.memory.promotions import Promotions
from sparkctl.services.orchestrator.memory.working import WorkingMemory
from sparkctl.services.orchestrator.routing import text_of

log = logging.getLogger(__name__)

SUMMARY_PROMPT = (
    "Summarise this conversation for a later one in at most eight sentences: what it was about, the names of "
    "the code entities, files and documents it discussed, what was decided, and what is still open. "
    "Write the summary only."
)
SUMMARY_SOURCE_MESSAGES = 200


class TurnNotStored(Exception):
    """An answered turn that no store took: the client must not be told it was answered."""


@dataclass(frozen=True)
class Budgets:
    working: float
    recall: float
    archival: float


@dataclass(frozen=True)
class Policy:
    budgets: Budgets
    tiers: frozenset[str]
    promote_after_turns: int
    archival_after_turns: int
    recall_top_k: int
    recall_threshold: float
    context_tokens: int
    promotion_scan_every: float = 30.0
    retry_limit: float = 30.0


@dataclass
class Recollection:
    """What the tiers gave for one request, and how each fared: its status, how long it took (None when it was
    not asked), and the pieces of the memory block."""

    statuses: dict[str, str] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    block: str | None = None
    timings: dict[str, float | None] = field(default_factory=dict)
    pieces: list[Retrieved] = field(default_factory=list)

    @property
    def header(self) -> str:
        return ";".join(f"{tier}={status}" for tier, status in self.statuses.items())

    def apply(self, messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The client's system messages, then the memory block, then the stored turns, then the rest."""
        leading = 0
        while leading < len(messages) and messages[leading].get("role") in ("system", "developer"):
            leading += 1
        block = [{"role": "system", "content": self.block}] if self.block else []
        return [*messages[:leading], *block, *self.history, *messages[leading:]]


class Embedder:
    """The embed model of models.toml through its server, or the built-in hash embedder."""

    def __init__(self, dimensions: int, client: LlmClient | None, model: str) -> None:
        self.dimensions = dimensions
        self.client = client
        self.model = model

    async def embed(self, text: str) -> np.ndarray:
        if self.client is None:
            return hash_embed([text], self.dimensions)[0]
        return (await self.client.embed(self.model, [text]))[0]


class Memory:
    def __init__(
        self,
        policy: Policy,
        pool: AsyncConnectionPool,
        working: WorkingMemory,
        archive: Archive,
        embedder: Embedder,
        summarizer: tuple[LlmClient, ChatModel],
    ) -> None:
        self.policy = policy
        self.pool = pool
        self.working = working
        self.archive = archive
        self.embedder = embedder
        self.summarizer = summarizer
        self.outbox = TurnOutbox(working.redis)
        self.promotions = Promotions(
            self.promote, self._due, scan_every=policy.promotion_scan_every, backoff=Backoff(0.5, policy.retry_limit)
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._schema_ready = False

    async def recollect(self, workspace: str, session: str, messages: Sequence[dict[str, Any]]) -> Recollection:
        question = next((text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        whole_history = sum(1 for m in messages if m.get("role") not in ("system", "developer")) > 1
        asking = bool(question.strip())
        plans: dict[str, Callable[[], Awaitable[Any]] | None] = {
            "working": None if whole_history else lambda: self._working(workspace, session),
            "recall": (lambda: self._recall(workspace, session, question)) if asking else None,
            "archival": (lambda: self.archive.lookup(workspace, question)) if asking else None,
        }
        budgets = self.policy.budgets
        working, recalled, archived = await asyncio.gather(
            *(_tier(name in self.policy.tiers, plan, getattr(budgets, name)) for name, plan in plans.items())
        )
        result = Recollection(
            statuses={"working": working[0], "recall": recalled[0], "archival": archived[0]},
            timings={"working": working[2], "recall": recalled[2], "archival": archived[2]},
        )
        result.history = list(working[1] or [])
        pieces: list[Retrieved] = [*(recalled[1] or []), *(archived[1] or [])]
        result.pieces = fitting(pieces, self.policy.context_tokens)
        result.block = memory_block(result.pieces, self.policy.context_tokens)
        return result

    async def _working(self, workspace: str, session: str) -> list[dict[str, Any]]:
        """The session's turns from Redis; when Redis has none (expired, flushed), the latest from PostgreSQL."""
        turns = await self.working.turns(workspace, session)
        if turns:
            return turns
        async with self.pool.connection() as conn:
            stored = await sessions.messages_of(conn, workspace, session, self.working.max_messages)
        return [{"role": m["role"], "content": m["content"]} for m in stored]

    async def _recall(self, workspace: str, session: str, question: str) -> list[Retrieved]:
        vector = await self.embedder.embed(question)
        async with self.pool.connection() as conn:
            found = await sessions.recall(
                conn, workspace, session, vector, limit=self.policy.recall_top_k, threshold=self.policy.recall_threshold
            )
        return [Retrieved("conversations", item.summary, item.similarity, session=item.session) for item in found]

    async def start(self) -> None:
        """Start the background work: the outbox's drain into PostgreSQL and the scan for due promotions."""
        self._spawn(drain(self.outbox, self._store))
        self._spawn(self.promotions.scan())

    async def stop(self, timeout: float = 10.0) -> None:
        """Let queued promotions finish within `timeout`, then stop; turns still in the outbox stay there."""
        await self.promotions.idle(timeout)
        await self.promotions.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def remember(self, workspace: str, session: str, asked: Sequence[dict[str, Any]], answer: str) -> None:
        """Store a turn before the client has the end of its answer: into working memory and the outbox in one
        Redis transaction (the drain writes it to PostgreSQL), or, with Redis down, straight into PostgreSQL.
        Raises TurnNotStored when neither takes it."""
        turn = PendingTurn(workspace, session, [*asked, {"role": "assistant", "content": answer}])
        try:
            async with self.working.redis.pipeline(transaction=True) as pipe:
                self.working.queue_append(pipe, workspace, session, turn.messages)
                self.outbox.queue(pipe, turn)
                await pipe.execute()
        except Exception as exc:
            log.warning("Redis did not take a turn of session %s (%s); storing it in PostgreSQL directly", session, exc)
            try:
                await self._store(turn)
            except Exception as failure:
                raise TurnNotStored(f"neither Redis nor PostgreSQL stored the turn: {failure}") from failure
            return
        self.outbox.arrived.set()

    async def _store(self, turn: PendingTurn) -> None:
        """Write a turn to PostgreSQL (once, by its id) and queue the promotions it makes due."""
        import psycopg

        if not self._schema_ready:
            async with self.pool.connection() as conn:
                await migrate(conn)
            self._schema_ready = True
        try:
            async with self.pool.connection() as conn:
                progress = await sessions.record_turn(conn, turn.workspace, turn.session, turn.id, turn.messages)
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            raise Refused(f"session {turn.session} of workspace {turn.workspace}: {exc}") from exc
        policy = self.policy
        if progress is not None and (
            progress.summary_due(policy.promote_after_turns) or progress.archive_due(policy.archival_after_turns)
        ):
            self.promotions.request(turn.workspace, turn.session)

    async def promote(self, workspace: str, session: str) -> None:
        """Summarise and archive the session if a threshold was crossed and no other process is at it."""
        await self._summarise(workspace, session)
        await self._archive(workspace, session)

    async def _due(self) -> list[tuple[str, str]]:
        async with self.pool.connection() as conn:
            return await sessions.due_sessions(conn, self.policy.promote_after_turns, self.policy.archival_after_turns)

    async def forget(self, workspace: str, session: str) -> bool:
        """Every tier's trace of the session, the graph first (a failure there leaves the rest to retry);
        False when PostgreSQL did not know the session."""
        await self.archive.forget(workspace, session)
        async with self.pool.connection() as conn:
            known = await sessions.delete_session(conn, workspace, session)
        await self.working.forget(workspace, session)
        return known

    async def _summarise(self, workspace: str, session: str) -> None:
        async with self.pool.connection() as conn:
            turns = await sessions.claim_summary(conn, workspace, session, self.policy.promote_after_turns)
            if turns is None:
                return
            history = await sessions.messages_of(conn, workspace, session, SUMMARY_SOURCE_MESSAGES)
        try:
            summary = await self._summary_of(history)
            vector = await self.embedder.embed(summary)
        except Exception:
            async with self.pool.connection() as conn:
                await sessions.release_summary(conn, workspace, session)
            raise
        async with self.pool.connection() as conn:
            await sessions.save_summary(conn, workspace, session, summary, vector, turns)
        log.info("session %s of workspace %s summarised at %d user turns", session, workspace, turns)

    async def _summary_of(self, history: list[dict[str, Any]]) -> str:
        client, model = self.summarizer
        transcript = "\n".join(f"{m['role']}: {m['content']}" for m in history)
        messages = [{"role": "system", "content": SUMMARY_PROMPT}, {"role": "user", "content": transcript}]
        return await client.chat(model, messages, think=False, max_tokens=400)

    async def _archive(self, workspace: str, session: str) -> None:
        async with self.pool.connection() as conn:
            claimed = await sessions.claim_archive(conn, workspace, session, self.policy.archival_after_turns)
        if claimed is None:
            return
        summary, turns = claimed
        archived: int | None = None
        try:
            await self.archive.store_summary(workspace, session, summary)
            archived = turns
        finally:
            async with self.pool.connection() as conn:
                await sessions.finish_archive(conn, workspace, session, archived)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _tier(
    enabled: bool, lookup: Callable[[], Awaitable[Any]] | None, budget: float
) -> tuple[str, Any, float | None]:
    """(status, result, milliseconds) of one tier: hit, miss, skip (nothing to look up), timeout, down, or off
    (turned off); no time when it was not asked."""
    if not enabled:
        return "off", None, None
    if lookup is None:
        return "skip", None, None
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(lookup(), budget)
    except TimeoutError:
        return "timeout", None, _since(started)
    except Exception as exc:
        log.debug("memory tier failed: %r", exc)
        return "down", None, _since(started)
    return ("hit" if result else "miss"), result, _since(started)


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
