"""The model-server client, against the LLM TEST DOUBLE (tests/support/fake_llm.py) in both API styles.

The double echoes the last user message, so a message carrying a `<think>` block shows what the
client strips from real thinking models.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry, generate_latest

from sparkctl.local.process import free_port
from sparkctl.services.common.llm import (
    ChatModel,
    LlmClient,
    LlmFailed,
    LlmRefused,
    LlmTimeout,
    LlmUnreachable,
    ThinkFilter,
    api_style,
    create_http_client,
    strip_think,
)
from sparkctl.services.common.metrics import ModelCalls
from support.fake_llm import FakeLLM
from support.metrics import by_label

QWEN3 = ChatModel(name="qwen3:8b", context=32768, thinks=True)
PLAIN = ChatModel(name="plain:1b", context=4096)
HELLO = [{"role": "user", "content": "hello there"}]


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with create_http_client(timeout=10) as client:
        yield client


@pytest.fixture(params=["ollama", "openai"])
def server(request: pytest.FixtureRequest, fake_llm: FakeLLM, http: httpx.AsyncClient) -> LlmClient:
    url = fake_llm.url if request.param == "ollama" else f"{fake_llm.url}/v1"
    return LlmClient(url, http)


def test_the_url_decides_the_api_style() -> None:
    assert api_style("http://ollama:11434") == "ollama"
    assert api_style("http://vllm:8000/v1") == "openai"
    assert api_style("http://vllm:8000/v1/") == "openai"


async def test_chat_returns_the_answer(server: LlmClient) -> None:
    assert await server.chat(PLAIN, HELLO) == "echo: hello there"


async def test_stream_chat_yields_the_answer_in_several_deltas(server: LlmClient) -> None:
    deltas = [delta async for delta in server.stream_chat(PLAIN, HELLO)]
    assert len(deltas) > 1
    assert "".join(deltas) == "echo: hello there"


async def test_embed_returns_one_row_per_text(server: LlmClient) -> None:
    vectors = await server.embed("qwen3-embedding:0.6b", ["a client", "a server", "a client"])
    assert vectors.shape == (3, 1024)
    assert vectors.dtype == np.float32
    assert np.allclose(vectors[0], vectors[2])
    assert not np.allclose(vectors[0], vectors[1])


async def test_think_blocks_are_stripped_from_answers_and_streams(server: LlmClient) -> None:
    thinking = [{"role": "user", "content": "<think>the user wants a greeting</think>Hi!"}]
    assert await server.chat(PLAIN, thinking) == "echo: Hi!"
    assert "".join([delta async for delta in server.stream_chat(PLAIN, thinking)]) == "echo: Hi!"


async def test_ollama_gets_think_false_and_the_context_length_for_a_thinking_model(
    fake_llm: FakeLLM, http: httpx.AsyncClient
) -> None:
    client = LlmClient(fake_llm.url, http)
    await client.chat(QWEN3, HELLO, think=False, response_format={"type": "json_object"})
    await client.chat(PLAIN, HELLO, think=False)
    thinking, plain = (request.body for request in fake_llm.chat_requests())
    assert thinking["think"] is False
    assert thinking["options"]["num_ctx"] == 32768
    assert thinking["format"] == "json"
    assert "think" not in plain, "Ollama refuses `think` for models that do not think"
    assert plain["options"]["num_ctx"] == 4096


async def test_openai_style_turns_thinking_off_through_the_chat_template(
    fake_llm: FakeLLM, http: httpx.AsyncClient
) -> None:
    await LlmClient(f"{fake_llm.url}/v1", http).chat(QWEN3, HELLO, think=False, max_tokens=64)
    (request,) = fake_llm.chat_requests()
    assert request.body["chat_template_kwargs"] == {"enable_thinking": False}
    assert request.body["max_tokens"] == 64


async def test_an_unreachable_server_is_named_quickly(http: httpx.AsyncClient) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(LlmUnreachable, match=f"LLM backend {url} is unreachable") as raised:
        await LlmClient(url, http).chat(PLAIN, HELLO)
    assert time.monotonic() - started < 3
    assert raised.value.url == url


async def test_a_failing_server_is_named_with_its_status(server: LlmClient, fake_llm: FakeLLM) -> None:
    fake_llm.fail_with = 503
    with pytest.raises(LlmFailed, match=f"LLM backend {server.url} failed: HTTP 503"):
        await server.chat(PLAIN, HELLO)
    with pytest.raises(LlmFailed, match="HTTP 503"):
        [delta async for delta in server.stream_chat(PLAIN, HELLO)]
    with pytest.raises(LlmFailed, match="HTTP 503"):
        await server.embed("e", ["x"])


async def test_ping_checks_the_model_listing(server: LlmClient, http: httpx.AsyncClient) -> None:
    await server.ping()
    with pytest.raises(LlmUnreachable):
        await LlmClient(f"http://127.0.0.1:{free_port()}", http).ping()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>plan</think>\n\nAnswer", "Answer"),
        ("plan</think>Answer", "Answer"),
        ("Answer<think>unfinished", "Answer"),
        ("no tags at all", "no tags at all"),
    ],
)
def test_strip_think(text: str, expected: str) -> None:
    assert strip_think(text) == expected


def test_think_filter_handles_tags_split_across_deltas() -> None:
    stream = ThinkFilter()
    pieces = ["<thi", "nk>weighing ", "options</th", "ink>\n\nThe ", "answer <", "b>bold</b>"]
    out = "".join(stream.feed(piece) for piece in pieces) + stream.flush()
    assert out == "The answer <b>bold</b>"


def counted(registry: CollectorRegistry, kind: str, backend: str = "plain:1b") -> dict[str, float]:
    text = generate_latest(registry).decode()
    return by_label(text, "sparkctl_model_requests_total", "outcome", backend=backend, kind=kind)


def tokens(registry: CollectorRegistry, backend: str = "plain:1b") -> dict[str, float]:
    return by_label(generate_latest(registry).decode(), "sparkctl_model_tokens_total", "direction", backend=backend)


async def test_ollama_requests_are_counted_with_the_tokens_the_server_reports(
    fake_llm: FakeLLM, http: httpx.AsyncClient
) -> None:
    registry = CollectorRegistry()
    client = LlmClient(fake_llm.url, http, calls=ModelCalls(registry))

    await client.chat(PLAIN, HELLO)
    assert [delta async for delta in client.stream_chat(PLAIN, HELLO)]
    await client.embed("embed:1", ["a", "b"])

    assert counted(registry, "chat") == {"ok": 1.0}
    assert counted(registry, "stream") == {"ok": 1.0}
    assert counted(registry, "embed", backend="embed:1") == {"ok": 1.0}
    assert tokens(registry) == {"prompt": 14.0, "completion": 6.0}


async def test_openai_style_usage_is_counted(fake_llm: FakeLLM, http: httpx.AsyncClient) -> None:
    registry = CollectorRegistry()
    client = LlmClient(f"{fake_llm.url}/v1", http, calls=ModelCalls(registry))

    await client.chat(PLAIN, HELLO)
    await client.embed("embed:1", ["a"])

    assert tokens(registry) == {"prompt": 1.0, "completion": 1.0}
    assert tokens(registry, backend="embed:1") == {"prompt": 1.0, "completion": 1.0}


async def test_failed_requests_are_counted_by_what_went_wrong(fake_llm: FakeLLM, http: httpx.AsyncClient) -> None:
    registry = CollectorRegistry()
    calls = ModelCalls(registry)
    client = LlmClient(fake_llm.url, http, calls=calls)

    with pytest.raises(LlmUnreachable):
        await LlmClient(f"http://127.0.0.1:{free_port()}", http, calls=calls).chat(PLAIN, HELLO)
    fake_llm.fail_with = 503
    with pytest.raises(LlmFailed):
        await client.chat(PLAIN, HELLO)
    with pytest.raises(LlmFailed):
        [delta async for delta in client.stream_chat(PLAIN, HELLO)]
    fake_llm.fail_with = 400
    with pytest.raises(LlmRefused):
        await client.chat(PLAIN, HELLO)
    fake_llm.fail_with, fake_llm.latency = None, 1.0
    async with create_http_client(timeout=0.2) as impatient:
        with pytest.raises(LlmTimeout):
            await LlmClient(fake_llm.url, impatient, calls=calls).chat(PLAIN, HELLO)

    assert counted(registry, "chat") == {"unreachable": 1.0, "failed": 1.0, "refused": 1.0, "timeout": 1.0}
    assert counted(registry, "stream") == {"failed": 1.0}
    assert tokens(registry) == {}


async def test_rerank_gives_the_most_relevant_documents_first_at_most_top_n(
    server: LlmClient, fake_llm: FakeLLM
) -> None:
    documents = ["a plain fetch", "retry with backoff", "retry with backoff and jitter"]

    ranked = await server.rerank("bge-reranker-v2-m3", "retry with backoff and jitter", documents, top_n=2)

    assert ranked == [(2, 1.0), (1, 0.6)]
    [request] = [r for r in fake_llm.requests if r.path == "/v1/rerank"]
    assert request.body == {
        "model": "bge-reranker-v2-m3",
        "query": "retry with backoff and jitter",
        "documents": documents,
        "top_n": 2,
    }
    assert await server.rerank("bge-reranker-v2-m3", "anything", []) == []


async def test_a_rerank_refused_is_not_retried(fake_llm: FakeLLM, http: httpx.AsyncClient) -> None:
    fake_llm.fail_with = 400

    with pytest.raises(LlmRefused):
        await LlmClient(f"{fake_llm.url}/v1", http).rerank("bge-reranker-v2-m3", "query", ["one"])

    assert len(fake_llm.requests) == 1
