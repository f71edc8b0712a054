"""A deterministic LLM server for the tests: a TEST DOUBLE, never shipped as a feature.

No model weights can be had on a test machine, so this small HTTP server speaks the two APIs the
platform uses — OpenAI's (/v1/chat/completions, /v1/embeddings, /v1/models), the rerank API of vLLM and
Jina (/v1/rerank) and Ollama's native one (/api/chat, /api/generate, /api/embed, /api/embeddings, /api/tags) —
and answers deterministically:

- a LightRAG entity-extraction prompt gets one entity row per capitalised word of the input text,
  in LightRAG's delimiter format, and a relation between neighbours;
- a keyword-extraction prompt gets JSON keywords;
- a request with tools whose last user message says "use a tool" gets a call of its first tool;
- anything else gets "echo: <the last user message>";
- embeddings come from the feature-hashing embedder, so similar texts are close;
- a rerank scores each document by the share of the query's words it holds (`relevance`).

Every request is recorded, and a test can add latency or make it fail.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sparkctl.local.process import free_port
from sparkctl.services.common.embedding import hash_embed
from support.asgi import serving

DIMENSIONS = 1024
_CAPITALISED = re.compile(r"\b[A-Z][A-Za-z0-9_]{2,}\b")
_INPUT_TEXT = re.compile(r"---Input Text---\s*```\s*(.*?)```", re.S)


@dataclass
class RecordedRequest:
    path: str
    body: dict[str, Any]


@dataclass
class FakeLLM:
    """The server's state: what it received and how it should behave."""

    port: int = field(default_factory=free_port)
    latency: float = 0.0
    fail_with: int | None = None
    cut_stream: bool = False
    """Streams stop after their first piece, the connection dropped."""
    fail_after: int | None = None
    """When set, chat requests beyond this many answer 503 (a model server that fails mid-run)."""
    served_context: int | None = None
    """When set, the context the server says it runs models with, as Ollama (/api/show), vLLM (/v1/models)
    and llama.cpp's llama-server (/props) say it."""
    requests: list[RecordedRequest] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path in ("/v1/chat/completions", "/api/chat", "/api/generate")]

    def reset(self) -> None:
        self.requests.clear()
        self.latency = 0.0
        self.fail_with = None
        self.cut_stream = False
        self.served_context = None
        self.fail_after = None


def answer_for(messages: list[dict[str, Any]]) -> str:
    """The deterministic answer to a conversation."""
    text = "\n".join(str(m.get("content") or "") for m in messages)
    extraction = _INPUT_TEXT.search(text)
    if extraction and "entity" in text and "relation" in text:
        return _extraction_rows(extraction.group(1))
    if "high_level_keywords" in text:
        words = sorted(set(_CAPITALISED.findall(text)))[:5]
        return json.dumps({"high_level_keywords": words[:2], "low_level_keywords": words})
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), {"content": ""})
    return f"echo: {last_user.get('content') or ''}"


def relevance(query: str, document: str) -> float:
    """The reranker's deterministic score: the share of the query's words of three letters or more in the document."""
    words = set(re.findall(r"[a-z0-9_]{3,}", query.lower()))
    found = set(re.findall(r"[a-z0-9_]{3,}", document.lower()))
    return round(len(words & found) / len(words), 4) if words else 0.0


def _extraction_rows(text: str) -> str:
    names = list(dict.fromkeys(_CAPITALISED.findall(text)))[:8]
    rows = [f"entity<|#|>{name}<|#|>Concept<|#|>{name} is mentioned in the text." for name in names]
    rows += [
        f"relation<|#|>{a}<|#|>{b}<|#|>mentioned together<|#|>{a} and {b} appear together."
        for a, b in itertools.pairwise(names)
    ]
    return "\n".join([*rows, "<|COMPLETE|>"])


def _messages_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" in body:
        return list(body["messages"])
    return [{"role": "system", "content": body.get("system", "")}, {"role": "user", "content": body.get("prompt", "")}]


def build_app(state: FakeLLM) -> Starlette:
    async def gate(request: Request) -> tuple[dict[str, Any], Response | None]:
        body = await request.json() if request.method == "POST" else {}
        state.requests.append(RecordedRequest(request.url.path, body))
        if state.latency:
            await asyncio.sleep(state.latency)
        if state.fail_with is not None:
            return body, JSONResponse({"error": {"message": "injected failure"}}, status_code=state.fail_with)
        if state.fail_after is not None and len(state.chat_requests()) > state.fail_after:
            return body, JSONResponse({"error": {"message": "injected failure mid-run"}}, status_code=503)
        return body, None

    async def openai_chat(request: Request) -> Response:
        body, failure = await gate(request)
        if failure:
            return failure
        model, answer = body.get("model", "fake"), answer_for(_messages_of(body))
        call = tool_call_for(body)
        if not body.get("stream"):
            return JSONResponse(_completion(model, answer, call))
        chunks = _openai_stream(model, answer, body, call)
        return StreamingResponse(_cut(chunks) if state.cut_stream else chunks, media_type="text/event-stream")

    async def openai_embeddings(request: Request) -> Response:
        body, failure = await gate(request)
        if failure:
            return failure
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = hash_embed([str(i) for i in inputs], int(body.get("dimensions") or DIMENSIONS))
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        return JSONResponse({"object": "list", "data": data, "model": body.get("model", "fake"), "usage": _usage()})

    async def models(request: Request) -> Response:
        entry: dict[str, Any] = {"id": "fake", "object": "model", "owned_by": "tests"}
        if state.served_context:
            entry["max_model_len"] = state.served_context
        return JSONResponse({"object": "list", "data": [entry]})

    async def show(request: Request) -> Response:
        if not state.served_context:
            return JSONResponse({"error": "model not found"}, 404)
        info = {"general.architecture": "qwen3", "qwen3.context_length": state.served_context}
        return JSONResponse({"parameters": "stop <|im_end|>", "model_info": info})

    async def props(request: Request) -> Response:
        if not state.served_context:
            return JSONResponse({"error": "not found"}, 404)
        return JSONResponse({"default_generation_settings": {"n_ctx": state.served_context}, "total_slots": 1})

    async def ollama_chat(request: Request) -> Response:
        body, failure = await gate(request)
        if failure:
            return failure
        model, answer = body.get("model", "fake"), answer_for(_messages_of(body))
        key = "message" if request.url.path == "/api/chat" else "response"
        call = tool_call_for(body)
        if body.get("stream", True) is False:
            return JSONResponse(_ollama_final(model, "" if call else answer, key, call))
        chunks = _ollama_stream(model, answer, key, call)
        return StreamingResponse(_cut(chunks) if state.cut_stream else chunks, media_type="application/x-ndjson")

    async def ollama_embed(request: Request) -> Response:
        body, failure = await gate(request)
        if failure:
            return failure
        if request.url.path == "/api/embeddings":
            return JSONResponse({"embedding": hash_embed([body["prompt"]], DIMENSIONS)[0].tolist()})
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = hash_embed([str(i) for i in inputs], DIMENSIONS)
        return JSONResponse({"model": body.get("model", "fake"), "embeddings": vectors.tolist()})

    async def rerank(request: Request) -> Response:
        body, failure = await gate(request)
        if failure:
            return failure
        scores = [relevance(str(body["query"]), str(document)) for document in body["documents"]]
        order = sorted(range(len(scores)), key=lambda index: (-scores[index], index))[: body.get("top_n")]
        results = [{"index": index, "relevance_score": scores[index]} for index in order]
        return JSONResponse({"id": "rerank-fake", "model": body.get("model", "fake"), "results": results})

    async def tags(request: Request) -> Response:
        return JSONResponse({"models": [{"name": "fake:latest", "model": "fake:latest", "size": 1}]})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", openai_chat, methods=["POST"]),
            Route("/v1/embeddings", openai_embeddings, methods=["POST"]),
            Route("/v1/models", models),
            Route("/v1/rerank", rerank, methods=["POST"]),
            Route("/api/chat", ollama_chat, methods=["POST"]),
            Route("/api/generate", ollama_chat, methods=["POST"]),
            Route("/api/embed", ollama_embed, methods=["POST"]),
            Route("/api/embeddings", ollama_embed, methods=["POST"]),
            Route("/api/tags", tags),
            Route("/api/show", show, methods=["POST"]),
            Route("/props", props),
        ]
    )


def tool_call_for(body: dict[str, Any]) -> dict[str, Any] | None:
    """A call of the request's first tool, when it has tools and the last user message asks for one."""
    tools = body.get("tools") or []
    last_user = next((m for m in reversed(body.get("messages") or []) if m.get("role") == "user"), {})
    if not tools or "use a tool" not in str(last_user.get("content") or ""):
        return None
    return {"name": tools[0]["function"]["name"], "arguments": {"query": "sparkctl"}}


async def _cut(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield await anext(chunks)
    raise ConnectionResetError("the test double dropped the stream")


def _usage() -> dict[str, int]:
    return {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}


def _openai_call(call: dict[str, Any], index: int | None = None) -> dict[str, Any]:
    arguments = json.dumps(call["arguments"])
    converted = {"id": "call_fake", "type": "function", "function": {"name": call["name"], "arguments": arguments}}
    return converted if index is None else {"index": index, **converted}


def _completion(model: str, answer: str, call: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if call else answer}
    if call:
        message["tool_calls"] = [_openai_call(call)]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if call else "stop"}],
        "usage": _usage(),
    }


async def _openai_stream(
    model: str, answer: str, body: dict[str, Any], call: dict[str, Any] | None = None
) -> AsyncIterator[bytes]:
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    pieces = [] if call else ([answer[i : i + 8] for i in range(0, len(answer), 8)] or [""])
    first = {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    yield f"data: {json.dumps(first)}\n\n".encode()
    for piece in pieces:
        chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    if call:
        choice = {"index": 0, "delta": {"tool_calls": [_openai_call(call, 0)]}, "finish_reason": None}
        yield f"data: {json.dumps({**base, 'choices': [choice]})}\n\n".encode()
    last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if call else "stop"}]}
    yield f"data: {json.dumps(last)}\n\n".encode()
    if (body.get("stream_options") or {}).get("include_usage"):
        yield f"data: {json.dumps({**base, 'choices': [], 'usage': _usage()})}\n\n".encode()
    yield b"data: [DONE]\n\n"


def _ollama_final(model: str, answer: str, key: str, call: dict[str, Any] | None = None) -> dict[str, Any]:
    content: Any = {"role": "assistant", "content": answer} if key == "message" else answer
    if call and key == "message":
        content["tool_calls"] = [{"function": call}]
    return {
        "model": model,
        "created_at": "2026-01-01T00:00:00Z",
        key: content,
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 7,
        "eval_count": 3,
    }


async def _ollama_stream(model: str, answer: str, key: str, call: dict[str, Any] | None = None) -> AsyncIterator[bytes]:
    for i in range(0, 0 if call else len(answer), 8):
        piece = answer[i : i + 8]
        content: Any = {"role": "assistant", "content": piece} if key == "message" else piece
        yield (json.dumps({"model": model, key: content, "done": False}) + "\n").encode()
    if call:
        message = {"role": "assistant", "content": "", "tool_calls": [{"function": call}]}
        yield (json.dumps({"model": model, key: message, "done": False}) + "\n").encode()
    final = _ollama_final(model, "", key)
    yield (json.dumps(final) + "\n").encode()


@pytest.fixture(scope="session")
def fake_llm_server() -> Iterator[FakeLLM]:
    state = FakeLLM()
    with serving(build_app(state), state.port, lifespan="off"):
        yield state


@pytest.fixture
def fake_llm(fake_llm_server: FakeLLM) -> Iterator[FakeLLM]:
    """The session's LLM double, with its record and behaviour reset for this test."""
    fake_llm_server.reset()
    yield fake_llm_server
    fake_llm_server.reset()
