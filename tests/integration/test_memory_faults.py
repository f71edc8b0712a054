"""What the orchestrator's memory does when its servers fail: turns answered while PostgreSQL is down reach it
once it is back, in order and once; with Redis down as well, the chat fails instead of answering what it
would forget; promotions refused by a busy LightRAG are retried until stored, once per session.

Real PostgreSQL and Redis, stopped and started by the tests; the LLM is the test double, and LightRAG is a
small HTTP double that answers 409 while a change to the workspace is in progress, as the service does.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sparkctl.local.process import free_port
from sparkctl.local.servers import EmbeddedServer
from sparkctl.services.common.schema import migrate
from sparkctl.services.orchestrator.memory import sessions
from sparkctl.services.orchestrator.memory.archival import SESSION_SOURCE_PREFIX
from support.asgi import serving
from support.fake_llm import FakeLLM
from support.orchestrator import Start, client, wait_for

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer admin-key"}
OUTAGE_SECONDS = 6
"""Longer than the 5 s the orchestrator's connection pool waits for a connection."""


def stored_contents(url: str, session: str) -> list[str]:
    response = httpx.get(f"{url}/v1/sessions/{session}", headers=ADMIN, timeout=10)
    if response.status_code != 200:
        return []
    return [message["content"] for message in response.json()["messages"]]


@pytest.mark.usefixtures("running")
def test_turns_answered_while_postgres_is_down_are_stored_in_order_once_it_is_back(
    start_orchestrator: Start, postgres_server: EmbeddedServer
) -> None:
    url = start_orchestrator()
    chats = {name: client(url, **{"X-Session-Id": name}) for name in ("outage-a", "outage-b")}
    chats["outage-a"].chat.completions.create(model="qwen", messages=[{"role": "user", "content": "a before"}])
    wait_for(lambda: stored_contents(url, "outage-a") == ["a before", "echo: a before"])

    postgres_server.process.stop()
    answered = []
    for turn in range(6):
        for name, chat in chats.items():
            question = f"{name[-1]} during {turn}"
            reply = chat.chat.completions.create(model="qwen", messages=[{"role": "user", "content": question}])
            answered.append((name, question, reply.choices[0].message.content))
    time.sleep(OUTAGE_SECONDS)
    postgres_server.process.start()

    for name in chats:
        expected = [part for n, q, a in answered if n == name for part in (q, a)]
        if name == "outage-a":
            expected = ["a before", "echo: a before", *expected]
        wait_for(lambda name=name, expected=expected: stored_contents(url, name) == expected, timeout=30)
    info = httpx.get(f"{url}/v1/sessions/outage-b", headers=ADMIN).json()
    assert info["user_turns"] == 6


def test_a_nul_byte_in_a_message_is_stored_as_the_replacement_character(start_orchestrator: Start) -> None:
    url = start_orchestrator()
    chat = client(url, **{"X-Session-Id": "nul-1"})
    chat.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "before\x00after"}])
    wait_for(lambda: stored_contents(url, "nul-1")[:1] == ["before\ufffdafter"])


def test_with_redis_and_postgres_down_the_chat_fails_instead_of_answering_what_it_would_forget(
    start_orchestrator: Start, postgres_server: EmbeddedServer, redis_server: EmbeddedServer
) -> None:
    url = start_orchestrator()
    chat = client(url, **{"X-Session-Id": "both-down"})
    postgres_server.process.stop()
    redis_server.process.stop()
    try:
        with pytest.raises(openai.APIStatusError) as refused:
            chat.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "lost?"}])
        body = {"model": "qwen", "stream": True, "messages": [{"role": "user", "content": "lost too?"}]}
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, headers=ADMIN, timeout=30) as response:
            events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    finally:
        postgres_server.process.start()
        redis_server.process.start()
    assert refused.value.status_code == 503
    assert "could not be stored" in refused.value.message and "PostgreSQL at" in refused.value.message
    errors = [json.loads(event)["error"] for event in events if event.startswith('{"error"')]
    assert errors and errors[0]["code"] == "memory_unavailable"
    assert events[-1] == "[DONE]"


def test_a_turn_written_twice_is_stored_once(database_url: str) -> None:
    messages = [{"role": "user", "content": "once"}, {"role": "assistant", "content": "echo: once"}]

    async def write_twice() -> tuple[Any, Any, list[tuple[str, str]]]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await migrate(conn)
            first = await sessions.record_turn(conn, "ws", "twice", "turn-1", messages)
            second = await sessions.record_turn(conn, "ws", "twice", "turn-1", messages)
            query = "SELECT role, content FROM chat_messages WHERE session_id = 'twice' ORDER BY id"
            cursor = await conn.execute(query)
            return first, second, [(row[0], row[1]) for row in await cursor.fetchall()]

    first, second, rows = asyncio.run(write_twice())
    assert first is not None and first.user_turns == 1
    assert second is None
    assert rows == [("user", "once"), ("assistant", "echo: once")]


@dataclass
class BusyLightRag:
    """LightRAG's document routes, answering 409 while another change to the same workspace runs and for the
    first `refuse_first` changes; it records which session summaries it stored."""

    refuse_first: int = 0
    work_seconds: float = 0.05
    refused: int = 0
    stored: Counter[str] = field(default_factory=Counter)
    _busy: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def change(request: Request) -> JSONResponse:
            workspace = request.headers.get("LIGHTRAG-WORKSPACE", "default")
            body = await request.json()
            with self._lock:
                if workspace in self._busy or self.refuse_first > 0:
                    self.refuse_first = max(0, self.refuse_first - 1)
                    self.refused += 1
                    return JSONResponse({"detail": "workspace busy"}, 409)
                self._busy.add(workspace)
            try:
                await asyncio.sleep(self.work_seconds)
                if request.url.path.endswith("/text"):
                    with self._lock:
                        self.stored[body["file_source"]] += 1
                return JSONResponse({"status": "success"})
            finally:
                with self._lock:
                    self._busy.discard(workspace)

        async def health(request: Request) -> JSONResponse:
            return JSONResponse({"status": "healthy"})

        return Starlette(
            routes=[
                Route("/documents/text", change, methods=["POST"]),
                Route("/documents/delete_files", change, methods=["POST"]),
                Route("/health", health),
            ]
        )


@pytest.fixture
def busy_lightrag() -> Iterator[tuple[BusyLightRag, str]]:
    double = BusyLightRag(refuse_first=5)
    with serving(double.app(), free_port()) as url:
        yield double, url


def test_promotions_refused_by_a_busy_lightrag_are_retried_until_each_session_is_archived_once(
    start_orchestrator: Start, busy_lightrag: tuple[BusyLightRag, str], fake_llm: FakeLLM, database_url: str
) -> None:
    double, lightrag = busy_lightrag
    url = start_orchestrator(
        lightrag_url=lightrag,
        promote_after_turns=1,
        archival_after_turns=1,
        promotion_retry_limit_seconds=0.2,
        memory_tiers=["working"],
    )
    names = [f"busy-{index}" for index in range(12)]

    async def chat_at_once() -> None:
        async with httpx.AsyncClient(base_url=url, headers=ADMIN | {"X-Workspace": "busy-ws"}, timeout=30) as http:
            replies = await asyncio.gather(
                *(
                    http.post(
                        "/v1/chat/completions",
                        json={"model": "qwen", "messages": [{"role": "user", "content": f"about {name}"}]},
                        headers={"X-Session-Id": name},
                    )
                    for name in names
                )
            )
        assert [reply.status_code for reply in replies] == [200] * len(names)

    asyncio.run(chat_at_once())
    wait_for(lambda: set(double.stored) == {SESSION_SOURCE_PREFIX + name for name in names}, timeout=60)
    assert double.refused >= 5
    assert set(double.stored.values()) == {1}
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT archived_turns FROM chat_sessions WHERE workspace = 'busy-ws'").fetchall()
    assert sorted(row[0] for row in rows) == [1] * len(names)
