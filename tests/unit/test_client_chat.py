"""Reading the orchestrator's chat answers: a streamed answer's events, and errors as one line. The bytes are
what the orchestrator sends (OpenAI's SSE format); no server is involved."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sparkctl.client import ApiRequestError, ChatStream, error_message

HEADERS = {
    "X-Session-Id": "abc123",
    "X-Sparkctl-Backend": "coding:qwen3-coder-next",
    "X-Sparkctl-Memory": "working=hit;recall=miss;archival=skip",
}


def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"object": "chat.completion.chunk", "model": "coding", "choices": [choice], **extra}


def sse(*events: dict[str, Any] | str) -> bytes:
    lines = [f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n" for event in events]
    return ": keep-alive\n\n".join(lines).encode()


def stream_of(body: bytes) -> ChatStream:
    return ChatStream(httpx.Response(200, headers=HEADERS, content=body))


def test_pieces_come_in_order_and_the_reply_holds_headers_and_usage() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    answer = stream_of(
        sse(chunk(""), chunk("echo: "), chunk("hello"), chunk(finish="stop"), {"choices": [], "usage": usage}, "[DONE]")
    )
    assert answer.reply.session_id == "abc123"

    assert list(answer) == ["echo: ", "hello"]
    reply = answer.reply
    assert (reply.content, reply.model, reply.finish_reason, reply.usage) == ("echo: hello", "coding", "stop", usage)
    assert (reply.backend, reply.memory) == (HEADERS["X-Sparkctl-Backend"], HEADERS["X-Sparkctl-Memory"])
    assert answer.complete


def test_an_error_event_midway_raises_its_message_and_keeps_what_came_before() -> None:
    failure = {"error": {"message": "coding at host:11434 failed\nmid-answer (ReadError)", "type": "api_error"}}
    answer = stream_of(sse(chunk("partial "), failure))
    pieces = []
    with pytest.raises(ApiRequestError) as caught:
        pieces.extend(answer)
    assert pieces == ["partial "]
    assert caught.value.message == "coding at host:11434 failed mid-answer (ReadError)"
    assert answer.reply.content == "partial "
    assert not answer.complete


def test_a_stream_that_ends_without_done_is_an_error() -> None:
    with pytest.raises(ApiRequestError) as caught:
        list(stream_of(sse(chunk("cut"))))
    assert caught.value.message == "the answer stream ended before it was complete"


def test_an_event_that_is_not_json_is_an_error() -> None:
    with pytest.raises(ApiRequestError) as caught:
        list(stream_of(sse("{broken")))
    assert caught.value.message == "the answer stream held something that is not JSON"


def test_an_openai_error_body_becomes_one_line_with_its_status() -> None:
    body = {"error": {"message": "unknown model 'nope';\n  available: auto, coding", "type": "not_found_error"}}
    assert error_message(httpx.Response(404, json=body)) == "404: unknown model 'nope'; available: auto, coding"


def test_an_error_without_an_openai_body_gives_the_status_line() -> None:
    assert error_message(httpx.Response(502, text="<html>bad gateway</html>")) == "502: Bad Gateway"
