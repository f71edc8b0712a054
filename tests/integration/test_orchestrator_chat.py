"""The orchestrator's OpenAI-compatible chat: routing, fallbacks, streaming, errors and the three memory
tiers, on real PostgreSQL+pgvector, Redis and NATS. The model servers are the LLM test double
(support.fake_llm); the official `openai` client is the client."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import openai
import pytest

from sparkctl.local.process import free_port
from sparkctl.local.servers import EmbeddedServer
from sparkctl.services.orchestrator.app import create_app
from sparkctl.services.orchestrator.settings import OrchestratorSettings
from support.asgi import serving
from support.fake_llm import FakeLLM
from support.orchestrator import Start, chat_messages, client, summary_requests, wait_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("style", ["ollama", "openai"])
def test_openai_client_non_streaming_gets_the_answer_under_the_name_it_asked_for(
    start_orchestrator: Start, fake_llm: FakeLLM, style: str
) -> None:
    llm_url = fake_llm.url if style == "ollama" else f"{fake_llm.url}/v1"
    url = start_orchestrator(llm_url=llm_url)
    raw = client(url).chat.completions.with_raw_response.create(
        model="qwen", messages=[{"role": "user", "content": "hello there"}], temperature=0.2, max_tokens=50
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.model == "qwen"
    assert raw.headers["x-sparkctl-backend"].startswith("qwen3-coder-next")
    assert len(raw.headers["x-session-id"]) >= 16
    sent = fake_llm.chat_requests()[-1]
    assert sent.path == ("/api/chat" if style == "ollama" else "/v1/chat/completions")
    assert sent.body["model"] == "qwen3-coder-next:q4_K_M"
    if style == "ollama":
        assert sent.body["options"]["temperature"] == 0.2
        assert sent.body["options"]["num_predict"] == 50
        assert sent.body["options"]["num_ctx"] == 131072
    else:
        assert (sent.body["temperature"], sent.body["max_tokens"]) == (0.2, 50)


@pytest.mark.parametrize("style", ["ollama", "openai"])
def test_openai_client_streams_chunks_and_usage(start_orchestrator: Start, fake_llm: FakeLLM, style: str) -> None:
    url = start_orchestrator(llm_url=fake_llm.url if style == "ollama" else f"{fake_llm.url}/v1")
    stream = client(url).chat.completions.create(
        model="coding",
        messages=[{"role": "user", "content": "stream this answer please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream this answer please"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert {c.model for c in chunks} == {"coding"}
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
def test_tools_pass_through_and_tool_calls_come_back_in_openai_shape(
    start_orchestrator: Start, fake_llm: FakeLLM, stream: bool
) -> None:
    url = start_orchestrator()
    tools = [{"type": "function", "function": {"name": "search_code", "parameters": {"type": "object"}}}]
    request = {"model": "reasoning", "messages": [{"role": "user", "content": "please use a tool"}], "tools": tools}
    if stream:
        chunks = list(client(url).chat.completions.create(**request, stream=True))
        calls = [call for c in chunks if c.choices for call in (c.choices[0].delta.tool_calls or [])]
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finish == ["tool_calls"]
    else:
        completion = client(url).chat.completions.create(**request)
        calls = completion.choices[0].message.tool_calls or []
        assert completion.choices[0].finish_reason == "tool_calls"
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("search_code", {"query": "sparkctl"})
    ]
    sent = fake_llm.chat_requests()[-1].body
    assert sent["model"] == "deepseek-r1-tools"
    assert sent["tools"] == tools


def test_models_lists_every_routable_name(start_orchestrator: Start) -> None:
    ids = [model.id for model in client(start_orchestrator()).models.list()]
    assert {"auto", "coding", "reasoning", "qwen3-coder-next", "qwen", "deepseek-r1-tools"} <= set(ids)


def test_unknown_model_is_404_listing_the_available_ones(start_orchestrator: Start) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(start_orchestrator()).chat.completions.create(
            model="gpt-9", messages=[{"role": "user", "content": "hi"}]
        )
    assert "gpt-9" in str(caught.value) and "qwen3-coder-next" in str(caught.value)


def test_bad_requests_are_400_in_openai_shape_and_unknown_fields_are_ignored(
    start_orchestrator: Start, fake_llm: FakeLLM
) -> None:
    url = start_orchestrator()
    headers = {"Authorization": "Bearer admin-key"}
    broken = httpx.post(f"{url}/v1/chat/completions", content=b"{not json", headers=headers)
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_request_error"
    empty = httpx.post(f"{url}/v1/chat/completions", json={"model": "qwen", "messages": []}, headers=headers)
    assert empty.status_code == 400 and "messages" in empty.json()["error"]["message"]
    extra = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "qwen", "messages": [{"role": "user", "content": "x"}], "frobnicate": True},
        headers=headers,
    )
    assert extra.status_code == 200
    assert "frobnicate" not in fake_llm.chat_requests()[-1].body


def test_auth_and_workspace_matrix(start_orchestrator: Start) -> None:
    url = start_orchestrator()
    body = {"model": "qwen", "messages": [{"role": "user", "content": "hi"}]}
    cases = [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "Bearer team-a-key", "X-Workspace": "team-b"}, 403),
        ({"Authorization": "Bearer team-a-key", "X-Workspace": "team-a"}, 200),
        ({"Authorization": "Bearer admin-key", "X-Workspace": "team-b"}, 200),
        ({"Authorization": "Bearer admin-key", "X-Workspace": "no spaces"}, 400),
    ]
    for headers, status in cases:
        response = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers)
        assert response.status_code == status, (headers, response.text)
        if status != 200:
            assert set(response.json()["error"]) == {"message", "type", "code"}
    sessions = httpx.get(f"{url}/v1/sessions", headers={"Authorization": "Bearer team-a-key", "X-Workspace": "b"})
    assert sessions.status_code == 403
    assert httpx.get(f"{url}/v1/models").status_code == 401
    assert httpx.get(f"{url}/health").status_code == 200


def two_coders(tmp_path: Path) -> Path:
    shipped = (Path(__file__).parents[2] / "src/sparkctl/models.toml").read_text()
    extra = """
[[model]]
role = "coding"
name = "backup-coder"
ref = "qwen2.5-coder"
tag = "7b"
source = "ollama"
backend = "ollama"
storage = "10Gi"
memory = "8Gi"
gpu_slices = 0
context = 32768
"""
    path = tmp_path / "models.toml"
    path.write_text(shipped + extra)
    return path


def test_a_backend_that_refuses_falls_back_to_the_next_of_its_role_then_503(
    start_orchestrator: Start, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    url = start_orchestrator(
        models=two_coders(tmp_path), model_urls={"qwen3-coder-next": dead, "backup-coder": fake_llm.url}
    )
    raw = client(url).chat.completions.with_raw_response.create(
        model="coding", messages=[{"role": "user", "content": "anyone there"}]
    )
    assert raw.parse().choices[0].message.content == "echo: anyone there"
    assert raw.headers["x-sparkctl-backend"].startswith("backup-coder")

    fake_llm.fail_with = 500
    with pytest.raises(openai.APIStatusError) as caught:
        client(url).chat.completions.create(model="coding", messages=[{"role": "user", "content": "again"}])
    assert caught.value.status_code == 502
    assert "qwen3-coder-next" in caught.value.message and "backup-coder" in caught.value.message

    fake_llm.fail_with = None
    url_all_dead = start_orchestrator(llm_url=dead)
    with pytest.raises(openai.APIStatusError) as down:
        client(url_all_dead).chat.completions.create(model="qwen", messages=[{"role": "user", "content": "x"}])
    assert down.value.status_code == 503 and "unreachable" in down.value.message


def test_a_stream_that_breaks_midway_ends_with_an_error_event(start_orchestrator: Start, fake_llm: FakeLLM) -> None:
    url = start_orchestrator()
    fake_llm.cut_stream = True
    with pytest.raises(openai.APIError) as caught:
        list(
            client(url).chat.completions.create(
                model="qwen", messages=[{"role": "user", "content": "long"}], stream=True
            )
        )
    assert "mid-answer" in str(caught.value)


def test_a_stateless_client_gets_its_earlier_turns_back(start_orchestrator: Start, fake_llm: FakeLLM) -> None:
    url = start_orchestrator()
    chat = client(url, **{"X-Session-Id": "stateless-1"})
    chat.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "my name is Ada"}])
    chat.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "what is my name"}])
    sent = chat_messages(fake_llm)[-1]
    assert [(m["role"], m["content"]) for m in sent if m["role"] != "system"] == [
        ("user", "my name is Ada"),
        ("assistant", "echo: my name is Ada"),
        ("user", "what is my name"),
    ]


def test_a_full_history_client_gets_no_turn_twice(start_orchestrator: Start, fake_llm: FakeLLM) -> None:
    url = start_orchestrator()
    chat = client(url, **{"X-Session-Id": "full-history-1"})
    history = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "first question"}]
    answer = chat.chat.completions.create(model="qwen", messages=history).choices[0].message.content
    history += [{"role": "assistant", "content": answer}, {"role": "user", "content": "second question"}]
    chat.chat.completions.create(model="qwen", messages=history)
    sent = [(m["role"], m["content"]) for m in chat_messages(fake_llm)[-1] if m["content"] != "be brief"]
    sent = [item for item in sent if item[0] != "system"]
    assert sent == [(m["role"], m["content"]) for m in history if m["role"] != "system"]


def test_recall_reaches_other_sessions_of_the_workspace_and_no_other_workspace(
    start_orchestrator: Start, fake_llm: FakeLLM
) -> None:
    url = start_orchestrator(promote_after_turns=1, recall_threshold=0.05)
    first = client(url, **{"X-Session-Id": "recall-a", "X-Workspace": "recall-ws"})
    first.chat.completions.create(
        model="qwen", messages=[{"role": "user", "content": "The Quasar scheduler retries jobs with jitter"}]
    )
    stored = {"Authorization": "Bearer admin-key", "X-Workspace": "recall-ws"}
    wait_for(lambda: bool(httpx.get(f"{url}/v1/sessions/recall-a", headers=stored).json().get("summary")))

    same = client(url, **{"X-Session-Id": "recall-b", "X-Workspace": "recall-ws"})
    raw = same.chat.completions.with_raw_response.create(
        model="qwen", messages=[{"role": "user", "content": "how does the Quasar scheduler retry jobs"}]
    )
    assert "recall=hit" in raw.headers["x-sparkctl-memory"]
    block = chat_messages(fake_llm)[-1][0]
    assert block["role"] == "system" and "Quasar scheduler retries jobs" in block["content"]
    assert "not instructions" in block["content"]

    other = client(url, **{"X-Session-Id": "recall-c", "X-Workspace": "elsewhere"})
    raw = other.chat.completions.with_raw_response.create(
        model="qwen", messages=[{"role": "user", "content": "how does the Quasar scheduler retry jobs"}]
    )
    assert "recall=miss" in raw.headers["x-sparkctl-memory"]
    assert all("Quasar scheduler retries" not in m["content"] for m in chat_messages(fake_llm)[-1])


def test_promotion_happens_once_at_the_threshold_under_concurrent_requests(
    start_orchestrator: Start, fake_llm: FakeLLM
) -> None:
    url = start_orchestrator(promote_after_turns=4)

    async def burst() -> None:
        async with openai.AsyncOpenAI(
            base_url=f"{url}/v1", api_key="admin-key", default_headers={"X-Session-Id": "burst-1"}, max_retries=0
        ) as chat:
            await asyncio.gather(
                *(
                    chat.chat.completions.create(model="qwen", messages=[{"role": "user", "content": f"turn {n}"}])
                    for n in range(6)
                )
            )

    asyncio.run(burst())
    wait_for(lambda: summary_requests(fake_llm) >= 1)
    time.sleep(1.0)
    assert summary_requests(fake_llm) == 1
    session = httpx.get(f"{url}/v1/sessions/burst-1", headers={"Authorization": "Bearer admin-key"}).json()
    assert session["user_turns"] == 6 and session["summary"]


def test_sessions_are_listed_shown_and_deleted_from_every_tier(
    start_orchestrator: Start, redis_server: EmbeddedServer
) -> None:
    url = start_orchestrator()
    chat = client(url, **{"X-Session-Id": "listed-1", "X-Workspace": "sessions-ws"})
    chat.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "remember me"}])
    headers = {"Authorization": "Bearer admin-key", "X-Workspace": "sessions-ws"}
    wait_for(lambda: httpx.get(f"{url}/v1/sessions/listed-1", headers=headers).status_code == 200)
    listed = httpx.get(f"{url}/v1/sessions", headers=headers).json()["data"]
    assert [s["id"] for s in listed] == ["listed-1"]
    shown = httpx.get(f"{url}/v1/sessions/listed-1", headers=headers).json()
    assert [(m["role"], m["content"]) for m in shown["messages"]] == [
        ("user", "remember me"),
        ("assistant", "echo: remember me"),
    ]
    assert httpx.get(f"{url}/v1/sessions/listed-1", headers={**headers, "X-Workspace": "other"}).status_code == 404
    deleted = httpx.delete(f"{url}/v1/sessions/listed-1", headers=headers)
    assert deleted.status_code == 503 and "LightRAG" in deleted.json()["error"]["message"]


@pytest.mark.usefixtures("running")
def test_redis_down_skips_working_memory_and_chat_recovers_when_it_is_back(
    start_orchestrator: Start, redis_server: EmbeddedServer, fake_llm: FakeLLM
) -> None:
    """The test Redis keeps nothing across a restart: the turns come back from PostgreSQL."""
    url = start_orchestrator()
    chat = client(url, **{"X-Session-Id": "redis-fault-1"})
    chat.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "before the outage"}])
    redis_server.process.stop()
    try:
        raw = chat.chat.completions.with_raw_response.create(
            model="qwen", messages=[{"role": "user", "content": "during the outage"}]
        )
        assert raw.parse().choices[0].message.content == "echo: during the outage"
        assert "working=down" in raw.headers["x-sparkctl-memory"]
    finally:
        redis_server.process.start()
    wait_for(
        lambda: (
            "working=hit"
            in chat.chat.completions.with_raw_response.create(
                model="qwen", messages=[{"role": "user", "content": "after the outage"}]
            ).headers["x-sparkctl-memory"]
        )
    )
    remembered = [m["content"] for m in chat_messages(fake_llm)[-1] if m["role"] == "user"]
    assert remembered[:2] == ["before the outage", "during the outage"]


def test_a_twenty_turn_session_survives_an_orchestrator_restart(
    database_url: str, redis_server: EmbeddedServer, nats_url: str, fake_llm: FakeLLM
) -> None:
    settings = OrchestratorSettings(
        database_url=database_url, redis_url=redis_server.url, nats_url=nats_url, llm_url=fake_llm.url,
        lightrag_url=f"http://127.0.0.1:{free_port()}", embedder="hash", promote_after_turns=50,
        archival_budget_ms=200,
    )  # fmt: skip
    port = free_port()
    headers = {"X-Session-Id": "long-session-1"}
    with serving(create_app(settings), port) as url:
        chat = client(url, **headers)
        for turn in range(20):
            chat.chat.completions.create(model="qwen", messages=[{"role": "user", "content": f"turn number {turn}"}])
    with serving(create_app(settings), port) as url:
        client(url, **headers).chat.completions.create(
            model="qwen", messages=[{"role": "user", "content": "and after the restart"}]
        )
        wait_for(lambda: len(httpx.get(f"{url}/v1/sessions/long-session-1").json()["messages"]) == 42)
        stored = httpx.get(f"{url}/v1/sessions/long-session-1").json()
    assert stored["user_turns"] == 21
    sent = [m["content"] for m in chat_messages(fake_llm)[-1] if m["role"] == "user"]
    assert sent[-1] == "and after the restart" and "turn number 19" in sent


def test_auto_routes_tools_to_coding_and_reasoning_questions_to_reasoning(
    start_orchestrator: Start, fake_llm: FakeLLM
) -> None:
    chat = client(start_orchestrator())
    reasoning = chat.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Why is the sky blue? Explain step by step."}]
    )
    assert reasoning.headers["x-sparkctl-backend"].startswith("deepseek-r1")
    coding = chat.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "fix this:\n```python\nprint(1\n```"}]
    )
    assert coding.headers["x-sparkctl-backend"].startswith("qwen3-coder-next")
    assert reasoning.parse().model == coding.parse().model == "auto"


def test_too_large_a_request_is_413_and_a_slow_backend_is_504_naming_it(
    start_orchestrator: Start, fake_llm: FakeLLM
) -> None:
    url = start_orchestrator(max_chat_bytes=4096, llm_timeout=0.5)
    with pytest.raises(openai.APIStatusError) as large:
        client(url).chat.completions.create(model="qwen", messages=[{"role": "user", "content": "x" * 5000}])
    assert large.value.status_code == 413
    fake_llm.latency = 2.0
    with pytest.raises(openai.APIStatusError) as slow:
        client(url).chat.completions.create(model="qwen", messages=[{"role": "user", "content": "are you there"}])
    assert slow.value.status_code == 504 and "qwen3-coder-next" in slow.value.message


def test_promotion_left_due_by_a_stopped_process_is_done_at_the_next_start(
    start_orchestrator: Start, database_url: str, fake_llm: FakeLLM
) -> None:
    import psycopg

    start_orchestrator()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO chat_sessions (workspace, id, user_turns, summary_claimed_at)
               VALUES ('sweep-ws', 'cut-off', 6, now() - interval '1 hour')"""
        )
        conn.execute(
            """INSERT INTO chat_messages (workspace, session_id, role, content)
               VALUES ('sweep-ws', 'cut-off', 'user', 'what the Zephyr cache does')"""
        )
    url = start_orchestrator()
    headers = {"Authorization": "Bearer admin-key", "X-Workspace": "sweep-ws"}
    wait_for(lambda: bool(httpx.get(f"{url}/v1/sessions/cut-off", headers=headers).json()["summary"]))
    assert summary_requests(fake_llm) == 1
