"""The memory trace of an answer, streamed or not: named by the answer's id and X-Sparkctl-Completion-Id, kept in
Redis, readable only with a key allowed its workspace, and saying what each tier put into the prompt. Real
PostgreSQL, Redis, NATS and LightRAG with a small ingested repository; the LLM is the test double."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import redis

from sparkctl.local.servers import EmbeddedServer
from sparkctl.services.orchestrator.traces import TraceStore
from support.archives import tarball
from support.codebases import ingest
from support.fake_llm import FakeLLM
from support.metrics import value
from support.orchestrator import Start, chat_messages, client
from support.stack import Stack

pytestmark = pytest.mark.integration

KEYS = "admin-key,a-key:shop-a,b-key:shop-b"
SHOP = [
    ("shop/__init__.py", b""),
    ("shop/models.py", b"class Book:\n    def price(self):\n        return 2\n"),
    (
        "shop/cart.py",
        b"from shop.models import Book\n\n\nclass Cart:\n    def total(self):\n        return Book().price()\n",
    ),
]
QUESTION = "How does `Book` compute its price?"


@pytest.fixture
def orchestrator(graphrag_stack: Stack, start_orchestrator: Start) -> str:
    job = ingest(graphrag_stack, tarball(SHOP), "shop-a")
    assert job["status"] == "completed", job["error"]
    return start_orchestrator(lightrag_url=graphrag_stack.lightrag, api_keys=KEYS, archival_budget_ms=5000)


def trace(url: str, completion_id: str, key: str = "a-key") -> httpx.Response:
    return httpx.get(
        f"{url}/v1/chat/completions/{completion_id}/trace", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def statuses(header: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in header.split(";"))


def test_a_non_streamed_answer_s_trace_says_what_each_tier_put_into_the_prompt(
    orchestrator: str, fake_llm: FakeLLM
) -> None:
    chat = client(orchestrator, "a-key", **{"X-Workspace": "shop-a", "X-Session-Id": "t-1"})
    fake_llm.requests.clear()
    raw = chat.chat.completions.with_raw_response.create(model="qwen", messages=[{"role": "user", "content": QUESTION}])
    completion = raw.parse()

    completion_id = raw.headers["x-sparkctl-completion-id"]
    assert completion.id == completion_id
    found = trace(orchestrator, completion_id)
    assert found.status_code == 200, found.text
    first = found.json()
    assert {key: first[key] for key in ("id", "session", "workspace", "model", "backend")} == {
        "id": completion_id, "session": "t-1", "workspace": "shop-a", "model": "qwen",
        "backend": raw.headers["x-sparkctl-backend"],
    }  # fmt: skip
    assert isinstance(first["created"], int)
    tiers = {tier["tier"]: tier for tier in first["tiers"]}
    assert [tier["tier"] for tier in first["tiers"]] == ["working", "recall", "archival"]
    assert {name: tier["status"] for name, tier in tiers.items()} == statuses(raw.headers["x-sparkctl-memory"])
    assert tiers["archival"]["status"] == "hit" and tiers["archival"]["ms"] > 0
    entities = [item for item in tiers["archival"]["items"] if item["kind"] == "entity"]
    assert "shop.models.Book" in {item["entity"] for item in entities}
    assert any(item["kind"] == "chunk" and "class Book" in item["text"] for item in tiers["archival"]["items"])
    block = chat_messages(fake_llm)[0][0]["content"]
    assert all(item["text"] in block for item in tiers["archival"]["items"])
    assert tiers["working"]["items"] == []

    raw = chat.chat.completions.with_raw_response.create(
        model="qwen", messages=[{"role": "user", "content": "and the cart?"}]
    )
    working = trace(orchestrator, raw.headers["x-sparkctl-completion-id"]).json()["tiers"][0]
    assert working["status"] == "hit"
    assert working["items"] == [
        {"kind": "turn", "text": f"user: {QUESTION}", "entity": None, "session": "t-1"},
        {"kind": "turn", "text": f"assistant: echo: {QUESTION}", "entity": None, "session": "t-1"},
    ]


def test_a_streamed_answer_names_its_trace_in_every_chunk_and_other_workspaces_keys_do_not_see_it(
    orchestrator: str,
) -> None:
    body = {"model": "qwen", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    headers = {"Authorization": "Bearer a-key", "X-Workspace": "shop-a", "X-Session-Id": "t-2"}
    with httpx.stream("POST", f"{orchestrator}/v1/chat/completions", json=body, headers=headers, timeout=60) as r:
        assert r.status_code == 200
        completion_id = r.headers["x-sparkctl-completion-id"]
        backend = r.headers["x-sparkctl-backend"]
        chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]

    assert chunks and {chunk["id"] for chunk in chunks} == {completion_id}
    found = trace(orchestrator, completion_id)
    assert found.status_code == 200, found.text
    assert (found.json()["session"], found.json()["backend"]) == ("t-2", backend)
    assert trace(orchestrator, completion_id, key="admin-key").status_code == 200

    for key, asked in (("b-key", completion_id), ("a-key", "chatcmpl-unknown"), ("a-key", "sparkctl:turns:x")):
        refused = trace(orchestrator, asked, key=key)
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["code"] == "trace_not_found"
    assert trace(orchestrator, completion_id, key="wrong").status_code == 401


@pytest.mark.usefixtures("running")
def test_with_redis_down_the_answer_goes_out_and_the_lost_trace_is_counted(
    start_orchestrator: Start, redis_server: EmbeddedServer
) -> None:
    url = start_orchestrator(api_keys=KEYS)
    chat = client(url, "admin-key", **{"X-Session-Id": "t-3"})
    redis_server.process.stop()
    try:
        raw = chat.chat.completions.with_raw_response.create(model="qwen", messages=[{"role": "user", "content": "hi"}])
        unreadable = trace(url, raw.headers["x-sparkctl-completion-id"], key="admin-key")
        metrics = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer admin-key"}, timeout=30).text
    finally:
        redis_server.process.start()

    assert raw.parse().choices[0].message.content == "echo: hi"
    assert value(metrics, "sparkctl_traces_lost_total") == 1
    assert unreadable.status_code == 503 and unreadable.json()["error"]["code"] == "redis_unavailable"
    assert trace(url, raw.headers["x-sparkctl-completion-id"], key="admin-key").status_code == 404


def test_with_memory_off_the_trace_says_every_tier_was_off_and_expires_after_its_ttl(
    start_orchestrator: Start, redis_server: EmbeddedServer
) -> None:
    url = start_orchestrator(api_keys=KEYS, memory=False, trace_ttl_seconds=60)
    raw = client(url, "admin-key").chat.completions.with_raw_response.create(
        model="qwen", messages=[{"role": "user", "content": "hi"}]
    )
    completion_id = raw.headers["x-sparkctl-completion-id"]
    tiers: list[dict[str, Any]] = trace(url, completion_id, key="admin-key").json()["tiers"]
    with redis.Redis.from_url(redis_server.url) as store:
        assert 0 < store.ttl(TraceStore.key(completion_id)) <= 60
    assert [(tier["tier"], tier["status"], tier["ms"], tier["items"]) for tier in tiers] == [
        ("working", "off", None, []), ("recall", "off", None, []), ("archival", "off", None, []),
    ]  # fmt: skip
