"""POST /v1/chat/completions and GET /v1/models: OpenAI's API, routed through models.toml, with memory; each
answer's memory trace is kept under its completion id (traces.py)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from sparkctl.catalog import UnknownModel
from sparkctl.services.orchestrator.auth import Caller, authenticate, request_workspace, require_workspace
from sparkctl.services.orchestrator.backends import DONE, Answer, BackendError, Completions, error_event
from sparkctl.services.orchestrator.errors import ApiError
from sparkctl.services.orchestrator.memory.service import Memory, Recollection, TurnNotStored
from sparkctl.services.orchestrator.resources import where
from sparkctl.services.orchestrator.routing import Router, text_of
from sparkctl.services.orchestrator.traces import TraceStore, trace_of

router = APIRouter(tags=["chat"])

FORWARDED = (
    "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "tools", "tool_choice",
    "parallel_tool_calls", "response_format", "seed", "presence_penalty", "frequency_penalty", "stream_options",
    "logit_bias", "logprobs", "top_logprobs", "n", "reasoning_effort",
)  # fmt: skip
"""The request fields a backend gets; anything else a client sends is ignored."""
_NO_BUFFERING = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SESSION_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
COMPLETION_ID_HEADER = "X-Sparkctl-Completion-Id"
"""Names the answer (its `id`, in the body and every chunk) and its memory trace."""
MAX_DEPTH = 64
"""How deep a chat request's JSON may nest (tool schemas included)."""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[Any] | None = None


class ChatRequest(BaseModel):
    """The fields sparkctl reads or forwards, typed as OpenAI's API types them: a wrong type is a 400 here,
    never a surprise for the backend."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    tools: list[Any] | None = None
    user: str | None = Field(default=None, max_length=256)
    stream_options: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    top_p: float | None = Field(default=None, ge=0, le=1, strict=True)
    max_tokens: int | None = Field(default=None, ge=1, strict=True)
    max_completion_tokens: int | None = Field(default=None, ge=1, strict=True)
    n: int | None = Field(default=None, ge=1, le=8, strict=True)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2, strict=True)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2, strict=True)
    seed: int | None = Field(default=None, strict=True)


async def read_limited(request: Request, limit: int) -> bytes:
    """The request's body, 413 once it passes `limit` bytes while it is read."""
    pieces, size = [], 0
    async for piece in request.stream():
        size += len(piece)
        if size > limit:
            raise ApiError(413, f"the request body is larger than {limit} bytes", "request_too_large")
        pieces.append(piece)
    return b"".join(pieces)


async def _body(request: Request) -> tuple[ChatRequest, dict[str, Any]]:
    try:
        raw = json.loads(await read_limited(request, request.app.state.settings.max_chat_bytes))
    except RecursionError:
        raise ApiError(400, f"the request body nests deeper than {MAX_DEPTH} levels", "invalid_json") from None
    except ValueError:
        raise ApiError(400, "the request body is not valid JSON", "invalid_json") from None
    if not isinstance(raw, dict):
        raise ApiError(400, "the request body must be a JSON object", "invalid_request")
    check_json(raw)
    try:
        parsed = ChatRequest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ApiError(400, f"{where}: {first['msg']}", "invalid_request") from None
    return parsed, raw


def check_json(document: Any) -> None:
    """400 for what JSON allows but nothing downstream can store or send: nesting deeper than MAX_DEPTH, and
    strings that are not Unicode text (a lone surrogate such as "\\ud800")."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ApiError(400, f"the request body nests deeper than {MAX_DEPTH} levels", "invalid_json")
        if isinstance(value, str):
            _text(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                _text(key)
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)


def _text(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "the request body holds a string that is not Unicode text", "invalid_unicode") from None


def valid_session_id(value: str) -> str:
    if not SESSION_ID.match(value):
        raise ApiError(400, "a session id is 1 to 128 letters, digits or . _ : @ -", "invalid_session_id")
    return value


def _session(request: Request, chat: ChatRequest) -> str:
    given = request.headers.get("x-session-id") or chat.user or None
    return uuid.uuid4().hex if given is None else valid_session_id(given)


@router.post("/v1/chat/completions")
async def chat_completions(
    request: Request, caller: Caller = Depends(authenticate), workspace: str = Depends(request_workspace)
) -> Any:
    require_workspace(caller, workspace)
    chat, raw = await _body(request)
    session = _session(request, chat)
    routes: Router = request.app.state.router
    messages = [message.model_dump(exclude_none=True) for message in chat.messages]
    try:
        backends = routes.route(chat.model, messages, tools=bool(chat.tools))
    except UnknownModel as exc:
        raise ApiError(404, f"{exc.message}; {exc.hint}", "model_not_found") from None

    memory: Memory | None = request.app.state.memory
    recollection = await memory.recollect(workspace, session, messages) if memory else Recollection()
    request.app.state.metrics.count_lookups(recollection.statuses)
    body = {key: raw[key] for key in FORWARDED if key in raw} | {"messages": recollection.apply(messages)}
    turn = _new_input(messages)
    completions: Completions = request.app.state.completions
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    headers = {"X-Session-Id": session, "X-Sparkctl-Memory": recollection.header or "off"}
    traces: TraceStore = request.app.state.traces

    async def keep_trace(backend: str) -> None:
        trace = trace_of(
            completion_id, session=session, workspace=workspace, model=chat.model, backend=backend,
            recollection=recollection,
        )  # fmt: skip
        await traces.save(trace)

    try:
        if chat.stream:
            include_usage = bool((chat.stream_options or {}).get("include_usage"))
            stream = await completions.stream(backends, body, chat.model, include_usage, completion_id)
            headers |= {"X-Sparkctl-Backend": stream.backend.label, COMPLETION_ID_HEADER: completion_id}
            answer = stream.answer
            store = (lambda: memory.remember(workspace, session, turn, answer.text)) if memory else None
            chunks = _remembered(stream.chunks, answer, store, request)
            await keep_trace(stream.backend.label)
            return StreamingResponse(chunks, media_type="text/event-stream", headers=headers | _NO_BUFFERING)
        backend, completion, answer = await completions.complete(backends, body, chat.model, completion_id)
    except BackendError as exc:
        raise ApiError(exc.status, exc.message, exc.code, headers=headers) from None
    headers["X-Sparkctl-Backend"] = backend.label
    if memory is not None:
        try:
            await memory.remember(workspace, session, turn, answer.text)
        except TurnNotStored as exc:
            raise ApiError(503, _not_stored(request, exc), "memory_unavailable", headers=headers) from None
    await keep_trace(backend.label)
    headers[COMPLETION_ID_HEADER] = completion_id
    return JSONResponse(completion, headers=headers)


def _not_stored(request: Request, exc: TurnNotStored) -> str:
    settings = request.app.state.settings
    return (
        f"the answer was not returned because it could not be stored (Redis at {where(settings.redis_url)}, "
        f"PostgreSQL at {where(settings.database_url)}): {exc}"
    )


def _new_input(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the client added this time: the messages after the last assistant message."""
    last_answer = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    return [
        {"role": m["role"], "content": text_of(m.get("content"))}
        for m in messages[last_answer + 1 :]
        if m.get("role") in ("user", "tool")
    ]


async def _remembered(
    chunks: AsyncIterator[bytes], answer: Answer, store: Callable[[], Awaitable[None]] | None, request: Request
) -> AsyncIterator[bytes]:
    """The stream, with the turn stored before its last event when it completed; a turn that could not be
    stored ends the stream with an error event instead, so the client knows the answer will be forgotten."""
    async for chunk in chunks:
        if chunk == DONE and store is not None and answer.complete:
            try:
                await store()
            except TurnNotStored as exc:
                yield error_event(_not_stored(request, exc), "memory_unavailable")
        yield chunk


@router.get("/v1/models", dependencies=[Depends(authenticate)])
async def list_models(request: Request) -> dict[str, Any]:
    routes: Router = request.app.state.router
    created = int(request.app.state.started)
    data = []
    for name, model in routes.names():
        entry: dict[str, Any] = {"id": name, "object": "model", "created": created, "owned_by": "sparkctl"}
        if model is not None:
            entry |= {"role": model.role, "model": model.name, "backend": model.backend, "context": model.context}
        else:
            entry |= {"role": "auto"}
        data.append(entry)
    return {"object": "list", "data": data}
