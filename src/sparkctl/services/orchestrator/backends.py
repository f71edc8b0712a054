"""Sending a chat request to its backends, in order, and relaying the answer in OpenAI's format.

A backend that refuses the connection, or answers 5xx (or 404: the model is not there) before the
first byte, passes the request to the next one. A slow backend is not skipped: it answers 504.
Once a stream has started, a failure is sent to the client as an error event that ends the stream.

Given a `ModelCalls`, every request to a backend is counted under the backend's served name and its outcome
(a stream's when it ends), with the tokens the backend reported.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import httpx

from sparkctl.services.orchestrator.ollama import (
    finish_reason,
    ollama_request,
    openai_completion,
    openai_tool_calls,
    usage_of,
)
from sparkctl.services.orchestrator.resources import where
from sparkctl.services.orchestrator.routing import Backend

if TYPE_CHECKING:
    from sparkctl.services.common.metrics import ModelCalls, ModelOutcome

DONE = b"data: [DONE]\n\n"


class BackendError(Exception):
    """No answer from a backend; `fall_back` says whether the next backend may be tried."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        fall_back: bool,
        code: str = "backend_unavailable",
        outcome: ModelOutcome = "failed",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fall_back = fall_back
        self.code = code
        self.outcome: ModelOutcome = outcome


@dataclass
class Answer:
    """What the assistant said, gathered while it is relayed, for memory afterwards."""

    parts: list[str] = field(default_factory=list)
    complete: bool = False
    usage: Mapping[str, Any] | None = None
    """The token counts the backend reported (OpenAI's `usage` shape), if it did."""

    @property
    def text(self) -> str:
        return "".join(self.parts)


@dataclass
class Stream:
    backend: Backend
    chunks: AsyncIterator[bytes]
    answer: Answer


class Completions:
    """Chat completions through the process's shared HTTP client."""

    def __init__(self, http: httpx.AsyncClient, api_key: str | None = None, calls: ModelCalls | None = None) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.calls = calls

    async def complete(
        self, backends: Sequence[Backend], body: Mapping[str, Any], model: str, completion_id: str | None = None
    ) -> tuple[Backend, dict[str, Any], Answer]:
        """The whole answer from the first backend that gives one, as an OpenAI ChatCompletion (whose `id` is
        `completion_id` when given)."""
        failures: list[BackendError] = []
        for backend in backends:
            try:
                response = await self._open(backend, body, stream=False)
                try:
                    raw = await response.aread()
                finally:
                    await response.aclose()
                completion = self._completion(backend, raw, model, completion_id)
            except BackendError as error:
                self._count(backend, "chat", error.outcome)
                if not error.fall_back:
                    raise
                failures.append(error)
                continue
            self._count(backend, "chat", "ok", completion.get("usage"))
            message = (completion.get("choices") or [{}])[0].get("message") or {}
            return backend, completion, Answer([str(message.get("content") or "")], complete=True)
        raise _exhausted(model, failures)

    async def stream(
        self,
        backends: Sequence[Backend],
        body: Mapping[str, Any],
        model: str,
        include_usage: bool,
        completion_id: str | None = None,
    ) -> Stream:
        """A stream from the first backend that starts one: SSE bytes in OpenAI's chunk format (each chunk's `id`
        is `completion_id` when given)."""
        failures: list[BackendError] = []
        for backend in backends:
            try:
                response = await self._open(backend, body, stream=True)
            except BackendError as error:
                self._count(backend, "stream", error.outcome)
                if not error.fall_back:
                    raise
                failures.append(error)
                continue
            answer = Answer()
            if backend.style == "ollama":
                events = _relay_ollama(response, model, include_usage, answer, completion_id)
            else:
                events = _relay_openai(response, model, answer, completion_id)
            return Stream(backend, self._guarded(events, response, backend, answer), answer)
        raise _exhausted(model, failures)

    async def _guarded(
        self, events: AsyncIterator[bytes], response: httpx.Response, backend: Backend, answer: Answer
    ) -> AsyncIterator[bytes]:
        """The relayed events; a transport failure midway becomes an error event. The response is always closed,
        and the request counted under how the stream ended: ok when complete, cancelled when the client left.

        The relays read each backend stream to its end, past [DONE], so its connection goes back to the pool.
        """
        outcome: ModelOutcome = "failed"
        try:
            async for event in events:
                yield event
            outcome = "ok" if answer.complete else "failed"
        except httpx.HTTPError as exc:
            outcome = "timeout" if isinstance(exc, httpx.TimeoutException) else "failed"
            yield error_event(f"{backend.label} at {where(backend.url)} failed mid-answer ({type(exc).__name__})")
        except ValueError:
            yield error_event(f"{backend.label} at {where(backend.url)} streamed something that is not JSON")
        except (GeneratorExit, asyncio.CancelledError):
            outcome = "cancelled"
            raise
        finally:
            await response.aclose()
            self._count(backend, "stream", outcome, answer.usage)

    def _count(
        self, backend: Backend, kind: Literal["chat", "stream"], outcome: ModelOutcome, usage: Any = None
    ) -> None:
        if self.calls is None:
            return
        usage = usage if isinstance(usage, Mapping) else {}
        prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        self.calls.record(backend.served_name, kind, outcome, prompt=prompt, completion=completion)

    async def _open(self, backend: Backend, body: Mapping[str, Any], *, stream: bool) -> httpx.Response:
        if backend.style == "ollama":
            url, payload = f"{backend.url}/api/chat", ollama_request(backend, body, stream)
        else:
            url, payload = f"{backend.url}/chat/completions", {**body, "model": backend.served_name, "stream": stream}
        request = self.http.build_request("POST", url, json=payload, headers=self.headers)
        try:
            response = await self.http.send(request, stream=True)
        except httpx.TimeoutException:
            raise BackendError(
                504, f"{backend.label} at {where(backend.url)} did not answer in time", fall_back=False,
                code="backend_timeout", outcome="timeout",
            ) from None  # fmt: skip
        except httpx.TransportError as exc:
            raise BackendError(
                503, f"{backend.label} at {where(backend.url)} is unreachable ({type(exc).__name__})", fall_back=True,
                outcome="unreachable",
            ) from None  # fmt: skip
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            raise _refused(backend, response)
        return response

    def _completion(self, backend: Backend, raw: bytes, model: str, completion_id: str | None) -> dict[str, Any]:
        try:
            answer = json.loads(raw)
        except ValueError:
            raise BackendError(
                502, f"{backend.label} at {where(backend.url)} answered with something that is not JSON",
                fall_back=True, code="bad_backend_response",
            ) from None  # fmt: skip
        if backend.style == "ollama":
            return openai_completion(answer, completion_id or _completion_id(), model)
        answer["model"] = model
        if completion_id:
            answer["id"] = completion_id
        return answer  # type: ignore[no-any-return]


def _refused(backend: Backend, response: httpx.Response) -> BackendError:
    reason = _reason(response)
    place = f"{backend.label} at {where(backend.url)}"
    if response.status_code >= 500 or response.status_code == 404:
        return BackendError(502, f"{place} failed: HTTP {response.status_code}: {reason}", fall_back=True)
    if response.status_code == 429:
        return BackendError(429, f"{place} is busy: {reason}", fall_back=False, code="backend_busy")
    return BackendError(
        400, f"{place} refused the request: {reason}", fall_back=False, code="backend_refused", outcome="refused"
    )


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error or body)[:300]


def _exhausted(model: str, failures: list[BackendError]) -> BackendError:
    status = 503 if all(failure.status == 503 for failure in failures) else 502
    tried = "; ".join(failure.message for failure in failures) or "no backend is configured"
    return BackendError(status, f"no backend could answer for model '{model}': {tried}", fall_back=False)


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def error_event(message: str, code: str = "backend_failed") -> bytes:
    body = {"error": {"message": message, "type": "api_error", "code": code}}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _event(data: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


async def _relay_openai(
    response: httpx.Response, model: str, answer: Answer, completion_id: str | None = None
) -> AsyncIterator[bytes]:
    async for line in response.aiter_lines():
        if answer.complete or not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            answer.complete = True
            yield DONE
            continue
        event = json.loads(data)
        if "error" in event:
            yield _event(event)
            return
        event["model"] = model
        if completion_id:
            event["id"] = completion_id
        if isinstance(event.get("usage"), dict):
            answer.usage = event["usage"]
        for choice in event.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if content:
                answer.parts.append(content)
        yield _event(event)
    if not answer.complete:
        yield error_event("the backend ended the stream before it was complete")


async def _relay_ollama(
    response: httpx.Response, model: str, include_usage: bool, answer: Answer, completion_id: str | None = None
) -> AsyncIterator[bytes]:
    completion_id, created = completion_id or _completion_id(), int(time.time())

    def chunk(delta: dict[str, Any], reason: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": reason}
        return _event({"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [choice]})  # fmt: skip

    first, calls_made = True, 0
    async for line in response.aiter_lines():
        if answer.complete or not line.strip():
            continue
        event = json.loads(line)
        if event.get("error"):
            yield error_event(f"the backend failed mid-answer: {event['error']}")
            return
        message = event.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant"} if first else {}
        first = False
        if message.get("content"):
            delta["content"] = message["content"]
            answer.parts.append(message["content"])
        if message.get("thinking"):
            delta["reasoning_content"] = message["thinking"]
        calls = openai_tool_calls(message.get("tool_calls"), calls_made)
        if calls:
            delta["tool_calls"] = calls
            calls_made += len(calls)
        if delta:
            yield chunk(delta, None)
        if event.get("done"):
            answer.usage = usage_of(event)
            yield chunk({}, finish_reason(event, calls_made > 0))
            if include_usage:
                yield _event({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                              "model": model, "choices": [], "usage": answer.usage})  # fmt: skip
            answer.complete = True
            yield DONE
    if not answer.complete:
        yield error_event("the backend ended the stream before it was complete")
