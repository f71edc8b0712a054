"""The client of the model servers: chat, streamed chat and embeddings over HTTP.

Which API a server speaks is decided by its URL alone: a base URL ending in `/v1` is
OpenAI-compatible (vLLM, llama.cpp, Ollama's own /v1), anything else is Ollama's native API
(`/api/chat`, `/api/embed`). The native API is preferred for Ollama because it is the only one that
takes the context length (`options.num_ctx`) and `think` per request.

Thinking models (models.toml `thinks = true`) get thinking turned off when a caller asks for it:
`"think": false` on Ollama, `chat_template_kwargs: {"enable_thinking": false}` on an
OpenAI-compatible server (the qwen3 chat-template switch vLLM and llama.cpp honour). Whatever a
model still returns inside `<think>…</think>` is stripped from answers and streams.

One `httpx.AsyncClient` per process (`create_http_client`) is shared by every `LlmClient`. Given a
`ModelCalls`, a client counts its chat, stream and embed requests by outcome, and the tokens the server reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import httpx
import numpy as np

from sparkctl.errors import SparkctlError
from sparkctl.services.common.served_context import effective_context, listed_context, ollama_context, props_context

if TYPE_CHECKING:
    from sparkctl.catalog import Model
    from sparkctl.services.common.metrics import ModelCallKind, ModelCalls, ModelOutcome

ApiStyle = Literal["ollama", "openai"]
Message = Mapping[str, Any]

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a TCP connection: an unreachable server is reported quickly whatever llm_timeout is."""


class LlmError(SparkctlError):
    """A model server could not answer; `url` is the base URL of that server."""

    default_hint = "Check that the model server is running and that SPARKCTL_LLM_URL / SPARKCTL_EMBED_URL point at it."

    def __init__(self, message: str, hint: str | None = None, *, url: str | None = None) -> None:
        super().__init__(message, hint)
        self.url = url


class LlmUnreachable(LlmError):
    """No connection could be made, or the server dropped it."""


class LlmTimeout(LlmError):
    """The server accepted the request but did not answer in time."""


class LlmFailed(LlmError):
    """The server answered with an error status or with something that is not an answer."""


class LlmRefused(LlmFailed):
    """The server answered that the request itself is wrong (a 4xx such as a context exceeded or an unknown
    model), or answered embeddings of another size than models.toml says: the same request fails again, so it
    is never retried."""


class LlmWrongEmbeddings(LlmRefused):
    """Embeddings of another size than models.toml says: the server runs another model than the catalog's."""


PASSING_STATUSES = frozenset({408, 425, 429})
"""4xx answers that say "not now" rather than "never": retried like 5xx."""


def api_style(url: str) -> ApiStyle:
    """`openai` for a base URL ending in /v1, otherwise `ollama`."""
    return "openai" if url.rstrip("/").endswith("/v1") else "ollama"


def create_http_client(timeout: float, *, max_connections: int = 64) -> httpx.AsyncClient:
    """The process's HTTP client for model servers: bounded pool, quick connect, `timeout` between bytes."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=16, keepalive_expiry=30.0),
    )


@dataclass(frozen=True)
class ChatModel:
    """What a chat request needs to know about a model."""

    name: str
    """The name the server is asked for (an Ollama `name:tag`, a served model name)."""
    context: int | None = None
    thinks: bool = False

    @classmethod
    def from_catalog(cls, model: Model) -> ChatModel:
        return cls(name=model.pull_ref, context=model.context, thinks=model.thinks)


_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.S)
_ORPHAN_CLOSE = re.compile(r"^(?:(?!<think>).)*?</think>", re.S)


def strip_think(text: str) -> str:
    """The text without `<think>…</think>` blocks (an unclosed one runs to the end, an orphan `</think>`
    at the start ends a block whose opening tag was in the prompt)."""
    text = _ORPHAN_CLOSE.sub("", text, count=1)
    return _THINK_BLOCK.sub("", text).strip()


class ThinkFilter:
    """Removes `<think>…</think>` blocks from a stream of text deltas, also when a tag is split across deltas."""

    OPEN = "<think>"
    CLOSE = "</think>"

    def __init__(self) -> None:
        self._pending = ""
        self._thinking = False
        self._at_start = True

    def feed(self, delta: str) -> str:
        self._pending += delta
        out: list[str] = []
        while True:
            if self._thinking:
                end = self._pending.find(self.CLOSE)
                if end < 0:
                    self._pending = self._pending[-(len(self.CLOSE) - 1) :]
                    break
                self._pending = self._pending[end + len(self.CLOSE) :]
                self._thinking = False
                continue
            start = self._pending.find(self.OPEN)
            if start >= 0:
                out.append(self._pending[:start])
                self._pending = self._pending[start + len(self.OPEN) :]
                self._thinking = True
                continue
            keep = _partial_tag_length(self._pending, self.OPEN)
            out.append(self._pending[: len(self._pending) - keep])
            self._pending = self._pending[len(self._pending) - keep :]
            break
        return self._emit("".join(out))

    def flush(self) -> str:
        """What is left once the stream ended (a partial tag that never completed is text)."""
        rest = "" if self._thinking else self._pending
        self._pending = ""
        return self._emit(rest)

    def _emit(self, text: str) -> str:
        if self._at_start:
            text = text.lstrip()
            self._at_start = not text
        return text


def _partial_tag_length(text: str, tag: str) -> int:
    """How many characters at the end of `text` could be the start of `tag`."""
    for length in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:length]):
            return length
    return 0


@dataclass
class _Call:
    """One counted model request: its outcome and the tokens the server reported."""

    outcome: ModelOutcome = "failed"
    prompt: int = 0
    completion: int = 0

    def used(self, body: Any) -> None:
        """Take the token counts of an answer or a stream event (OpenAI's `usage`, Ollama's eval counts)."""
        if not isinstance(body, dict):
            return
        usage = body.get("usage")
        if isinstance(usage, dict):
            self.prompt = int(usage.get("prompt_tokens") or 0)
            self.completion = int(usage.get("completion_tokens") or 0)
        elif "prompt_eval_count" in body or "eval_count" in body:
            self.prompt = int(body.get("prompt_eval_count") or 0)
            self.completion = int(body.get("eval_count") or 0)

    def failed(self, error: BaseException) -> None:
        if isinstance(error, asyncio.CancelledError | GeneratorExit):
            self.outcome = "cancelled"
        elif isinstance(error, LlmTimeout):
            self.outcome = "timeout"
        elif isinstance(error, LlmUnreachable):
            self.outcome = "unreachable"
        elif isinstance(error, LlmRefused):
            self.outcome = "refused"
        else:
            self.outcome = "failed"


class LlmClient:
    """One model server (Ollama or OpenAI-compatible) reached through the process's shared HTTP client."""

    def __init__(
        self, url: str, http: httpx.AsyncClient, *, api_key: str | None = None, calls: ModelCalls | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.style: ApiStyle = api_style(self.url)
        self._http = http
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._calls = calls

    async def chat(
        self,
        model: ChatModel,
        messages: Sequence[Message],
        *,
        think: bool | None = None,
        max_tokens: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        temperature: float | None = None,
    ) -> str:
        """The model's answer, without any `<think>` block.

        `think` is only sent to models that think (it is an error for the others on Ollama); None keeps
        the model's default. `response_format` is OpenAI's (`{"type": "json_object"}` or a json_schema).
        """
        payload = self._chat_payload(model, messages, False, think, max_tokens, response_format, temperature)
        with self._counted(model.name, "chat") as call:
            if self.style == "ollama":
                body = await self._post_json("/api/chat", payload)
                content = _field(body, ("message", "content"), self.url)
            else:
                body = await self._post_json("/chat/completions", payload)
                content = _field(body, ("choices", 0, "message", "content"), self.url)
            call.used(body)
        return strip_think(str(content or ""))

    async def stream_chat(
        self,
        model: ChatModel,
        messages: Sequence[Message],
        *,
        think: bool | None = None,
        max_tokens: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        temperature: float | None = None,
    ) -> AsyncIterator[str]:
        """The answer as text deltas as the server produces them, `<think>` blocks removed."""
        payload = self._chat_payload(model, messages, True, think, max_tokens, response_format, temperature)
        path = "/api/chat" if self.style == "ollama" else "/chat/completions"
        thinking = ThinkFilter()
        with self._counted(model.name, "stream") as call:
            async for event in self._stream_events(path, payload):
                call.used(event)
                if self.style == "ollama":
                    delta = str(((event.get("message") or {}).get("content")) or "")
                else:
                    choices = event.get("choices") or [{}]
                    delta = str(((choices[0].get("delta") or {}).get("content")) or "")
                text = thinking.feed(delta)
                if text:
                    yield text
            rest = thinking.flush()
            if rest:
                yield rest

    async def embed(self, model: str, texts: Sequence[str]) -> np.ndarray:
        """One float32 row per text, in order."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        with self._counted(model, "embed") as call:
            if self.style == "ollama":
                body = await self._post_json("/api/embed", {"model": model, "input": list(texts), "truncate": True})
                vectors = _field(body, ("embeddings",), self.url)
            else:
                body = await self._post_json("/embeddings", {"model": model, "input": list(texts)})
                rows = sorted(_field(body, ("data",), self.url), key=lambda row: row.get("index", 0))
                vectors = [_pooled(row["embedding"]) for row in rows]
            matrix = np.asarray(vectors, dtype=np.float32)
            if matrix.ndim != 2 or matrix.shape[0] != len(texts):
                raise LlmFailed(
                    f"LLM backend {self.url} returned {matrix.shape[0] if matrix.ndim else 0} embeddings "
                    f"for {len(texts)} texts",
                    url=self.url,
                )
            call.used(body)
        return matrix

    async def rerank(
        self, model: str, query: str, documents: Sequence[str], top_n: int | None = None
    ) -> list[tuple[int, float]]:
        """(index into `documents`, relevance) of the documents most relevant to `query`, the most relevant first:
        the rerank API of vLLM, Jina and Cohere (`/v1/rerank`), at most `top_n` of them when given."""
        if not documents:
            return []
        payload: dict[str, Any] = {"model": model, "query": query, "documents": list(documents)}
        if top_n is not None:
            payload["top_n"] = top_n
        with self._counted(model, "rerank") as call:
            body = await self._post_json("/v1/rerank" if self.style == "ollama" else "/rerank", payload)
            results = _field(body, ("results",), self.url)
            try:
                ranked = [(int(row["index"]), float(row["relevance_score"])) for row in results]
            except (KeyError, TypeError, ValueError):
                raise LlmFailed(
                    f"LLM backend {self.url} answered /rerank without an index and relevance_score per result",
                    url=self.url,
                ) from None
            if any(not 0 <= index < len(documents) for index, _ in ranked):
                raise LlmFailed(f"LLM backend {self.url} ranked a document it was not sent", url=self.url)
            call.used(body)
        return sorted(ranked, key=lambda item: -item[1])

    async def served_context(self, model: ChatModel) -> int | None:
        """The context a request for `model` gets from this server, as the server says (see served_context.py);
        models.toml's figure when it says nothing. Raises LlmError when the server cannot be asked."""
        if self.style == "ollama":
            try:
                served = ollama_context(await self._post_json("/api/show", {"model": model.name}))
            except LlmRefused:
                served = None
            return effective_context(model.context, served, sent_per_request=True)
        served = listed_context(await self._get_json(self.url + "/models"), model.name)
        if served is None:
            try:
                served = props_context(await self._get_json(self.url.removesuffix("/v1") + "/props"))
            except LlmRefused:
                served = None
        return effective_context(model.context, served, sent_per_request=False)

    async def ping(self) -> None:
        """Raise LlmError unless the server answers its model listing."""
        path = "/api/tags" if self.style == "ollama" else "/models"
        try:
            response = await self._http.get(self.url + path, headers=self._headers, timeout=CONNECT_TIMEOUT)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        if response.status_code >= 400:
            raise self._status_error(response)

    @contextlib.contextmanager
    def _counted(self, backend: str, kind: ModelCallKind) -> Iterator[_Call]:
        """Count the request made in the block under its outcome (ok when the block ends without an error)."""
        call = _Call()
        try:
            yield call
        except BaseException as error:
            call.failed(error)
            raise
        else:
            call.outcome = "ok"
        finally:
            if self._calls is not None:
                self._calls.record(backend, kind, call.outcome, prompt=call.prompt, completion=call.completion)

    def _chat_payload(
        self,
        model: ChatModel,
        messages: Sequence[Message],
        stream: bool,
        think: bool | None,
        max_tokens: int | None,
        response_format: Mapping[str, Any] | None,
        temperature: float | None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": model.name, "messages": [dict(m) for m in messages], "stream": stream}
        send_think = think is not None and model.thinks
        if self.style == "ollama":
            options: dict[str, Any] = {}
            if model.context:
                options["num_ctx"] = model.context
            if max_tokens is not None:
                options["num_predict"] = max_tokens
            if temperature is not None:
                options["temperature"] = temperature
            if options:
                payload["options"] = options
            if send_think:
                payload["think"] = think
            if response_format is not None:
                payload["format"] = _ollama_format(response_format)
        else:
            if max_tokens is not None:
                payload["max_tokens"] = max_tokens
            if temperature is not None:
                payload["temperature"] = temperature
            if send_think:
                payload["chat_template_kwargs"] = {"enable_thinking": think}
            if response_format is not None:
                payload["response_format"] = dict(response_format)
        return payload

    async def _post_json(self, path: str, payload: dict[str, Any]) -> Any:
        answer = await self._send("POST", self.url + path, json=payload)
        try:
            return answer.json()
        except ValueError:
            raise LlmFailed(
                f"LLM backend {self.url} answered {path} with something that is not JSON", url=self.url
            ) from None

    async def _get_json(self, url: str) -> Any:
        """A GET's JSON answer, or None when it is not JSON."""
        answer = await self._send("GET", url, timeout=CONNECT_TIMEOUT)
        try:
            return answer.json()
        except ValueError:
            return None

    async def _send(self, method: str, url: str, **options: Any) -> httpx.Response:
        """The server's answer; LlmError when it cannot be reached or answers 4xx/5xx."""
        try:
            response = await self._http.request(method, url, headers=self._headers, **options)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        if response.status_code >= 400:
            raise self._status_error(response)
        return response

    async def _stream_events(self, path: str, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The JSON events of a streamed answer: NDJSON lines (Ollama) or SSE `data:` lines (OpenAI)."""
        try:
            async with self._http.stream("POST", self.url + path, json=payload, headers=self._headers) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(response)
                async for line in response.aiter_lines():
                    event = self._event_of(line)
                    if event is None:
                        continue
                    if event.get("error"):
                        raise LlmFailed(f"LLM backend {self.url} failed mid-answer: {_message_of(event)}", url=self.url)
                    yield event
                    if event.get("done") is True:
                        return
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc

    def _event_of(self, line: str) -> dict[str, Any] | None:
        line = line.strip()
        if self.style == "openai":
            if not line.startswith("data:"):
                return None
            line = line[len("data:") :].strip()
            if line == "[DONE]":
                return {"done": True}
        if not line:
            return None
        try:
            event = json.loads(line)
        except ValueError:
            raise LlmFailed(
                f"LLM backend {self.url} streamed a line that is not JSON: {line[:80]!r}", url=self.url
            ) from None
        return event if isinstance(event, dict) else None

    def _transport_error(self, exc: httpx.HTTPError) -> LlmError:
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            return LlmTimeout(f"LLM backend {self.url} did not answer in time ({type(exc).__name__})", url=self.url)
        return LlmUnreachable(f"LLM backend {self.url} is unreachable ({type(exc).__name__})", url=self.url)

    def _status_error(self, response: httpx.Response) -> LlmFailed:
        try:
            detail = _message_of(response.json())
        except ValueError:
            detail = response.text[:200]
        refused = 400 <= response.status_code < 500 and response.status_code not in PASSING_STATUSES
        return (LlmRefused if refused else LlmFailed)(
            f"LLM backend {self.url} failed: HTTP {response.status_code}" + (f" ({detail})" if detail else ""),
            url=self.url,
        )


def _ollama_format(response_format: Mapping[str, Any]) -> Any:
    """OpenAI's response_format as Ollama's `format`: "json", or the JSON schema itself."""
    if response_format.get("type") == "json_schema":
        return (response_format.get("json_schema") or {}).get("schema") or "json"
    return "json"


def _message_of(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or "")
        if error:
            return str(error)
        return str(body.get("message") or body.get("detail") or "")
    return ""


def _field(body: Any, path: tuple[str | int, ...], url: str) -> Any:
    value = body
    try:
        for key in path:
            value = value[key]
    except (KeyError, IndexError, TypeError):
        raise LlmFailed(f"LLM backend {url} answered without {'.'.join(str(k) for k in path)}", url=url) from None
    return value


def _pooled(embedding: Any) -> Any:
    """One vector per text. A server without pooling (llama-cpp-python's, for one) answers a vector per token:
    their mean is the text's."""
    if embedding and isinstance(embedding[0], list):
        return np.asarray(embedding, dtype=np.float32).mean(axis=0)
    return embedding
