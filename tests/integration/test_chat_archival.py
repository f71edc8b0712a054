"""Archival memory through the real LightRAG service: a chat about an ingested codebase draws on its graph
without any LLM call for keywords, a session's summary goes into the graph at its threshold, and deleting
the session removes it from every tier. Real PostgreSQL, Redis and NATS; the LLM is the test double."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sparkctl.services.orchestrator.memory.archival import session_source
from support.codebases import httpx_source_tarball, ingest
from support.fake_llm import FakeLLM
from support.orchestrator import Start, chat_messages, client, wait_for
from support.stack import Stack

pytestmark = pytest.mark.integration


def chunk_sources(stack: Stack, workspace: str, query: str) -> set[str]:
    """The files of the chunks a vector search finds (the stack indexes prose as chunks only)."""
    payload = {"query": query, "mode": "naive", "chunk_top_k": 50}
    response = httpx.post(
        f"{stack.lightrag}/query/data", json=payload, headers={"LIGHTRAG-WORKSPACE": workspace}, timeout=30
    )
    response.raise_for_status()
    return {chunk["file_path"] for chunk in (response.json().get("data") or {}).get("chunks", [])}


def keyword_requests(fake: FakeLLM) -> list[Any]:
    return [r for r in fake.chat_requests() if "high_level_keywords" in str(r.body)]


def test_chat_draws_on_the_workspace_graph_and_sessions_are_archived_then_forgotten(
    graphrag_stack: Stack, start_orchestrator: Start, fake_llm: FakeLLM
) -> None:
    job = ingest(graphrag_stack, httpx_source_tarball(), "archival-ws")
    assert job["status"] == "completed", job["error"]
    url = start_orchestrator(
        lightrag_url=graphrag_stack.lightrag, promote_after_turns=1, archival_after_turns=1, archival_budget_ms=5000
    )
    chat = client(url, **{"X-Workspace": "archival-ws", "X-Session-Id": "archived-1"})
    fake_llm.requests.clear()

    raw = chat.chat.completions.with_raw_response.create(
        model="qwen", messages=[{"role": "user", "content": "How does `AsyncClient` send a request?"}]
    )
    assert "archival=hit" in raw.headers["x-sparkctl-memory"]
    block = chat_messages(fake_llm)[0][0]["content"]
    assert "httpx._client.AsyncClient" in block
    assert keyword_requests(fake_llm) == []

    question = "echo: How does AsyncClient send a request?"
    wait_for(lambda: session_source("archived-1") in chunk_sources(graphrag_stack, "archival-ws", question), timeout=30)
    headers = {"Authorization": "Bearer admin-key", "X-Workspace": "archival-ws"}
    deleted = httpx.delete(f"{url}/v1/sessions/archived-1", headers=headers, timeout=30)
    assert deleted.status_code == 200, deleted.text
    assert session_source("archived-1") not in chunk_sources(graphrag_stack, "archival-ws", question)
    assert httpx.get(f"{url}/v1/sessions/archived-1", headers=headers).status_code == 404
    again = chat.chat.completions.with_raw_response.create(
        model="qwen", messages=[{"role": "user", "content": "what did I ask?"}]
    )
    assert "working=miss" in again.headers["x-sparkctl-memory"]
