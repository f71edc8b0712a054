"""The HTTP client of the orchestrator's API, used by `sparkctl ingest`, `jobs` and `chat`."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import httpx

from sparkctl.errors import SparkctlError

ENDPOINT_ENV = "SPARKCTL_ENDPOINT"
API_KEY_ENV = "SPARKCTL_API_KEY"
CLUSTER_NODE_PORT = 31800
_CHAT_TIMEOUT = httpx.Timeout(30.0, connect=5.0, read=600.0)
"""A model may think for minutes before its first token; the orchestrator's own limits end a stuck backend."""


class ApiRequestError(SparkctlError):
    """The orchestrator answered with an error, or could not be reached."""

    def __init__(
        self, message: str, hint: str | None = None, *, status: int | None = None, param: str | None = None
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.param = param
        """The request field the orchestrator's error names, when it names one."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    origin: str
    """Where the URL came from, for messages: --endpoint, $SPARKCTL_ENDPOINT, local stack, cluster."""


CLUSTER_ORIGIN = "the cluster's NodePort"


def resolve_endpoint(
    explicit: str | None, *, local_endpoint: Callable[[], str | None], cluster_host: str | None
) -> Endpoint:
    """--endpoint > $SPARKCTL_ENDPOINT > the running local stack > the cluster's NodePort on the host."""
    if explicit:
        return Endpoint(explicit.rstrip("/"), "--endpoint")
    from_env = os.environ.get(ENDPOINT_ENV)
    if from_env:
        return Endpoint(from_env.rstrip("/"), f"${ENDPOINT_ENV}")
    local = local_endpoint()
    if local:
        return Endpoint(local.rstrip("/"), "the local stack")
    return Endpoint(f"http://{cluster_host or '127.0.0.1'}:{CLUSTER_NODE_PORT}", CLUSTER_ORIGIN)


@dataclass
class ChatReply:
    """An answer, and what the orchestrator said about it in its headers and (at the end of a stream) its usage."""

    content: str = ""
    session_id: str | None = None
    backend: str | None = None
    memory: str | None = None
    model: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    completion: dict[str, Any] | None = field(default=None, repr=False)
    """The whole ChatCompletion body, when the answer was not streamed."""

    @classmethod
    def from_headers(cls, headers: httpx.Headers) -> ChatReply:
        return cls(
            session_id=headers.get("x-session-id"),
            backend=headers.get("x-sparkctl-backend"),
            memory=headers.get("x-sparkctl-memory"),
        )


class ChatStream:
    """A streamed answer: iterating gives its text piece by piece; `reply` has the headers at once, and the
    whole text, model, finish reason and usage once the stream has ended. A failure midway raises ApiRequestError."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.reply = ChatReply.from_headers(response.headers)
        self.complete = False

    def __iter__(self) -> Iterator[str]:
        try:
            yield from self._pieces()
        except httpx.TransportError as exc:
            raise ApiRequestError(
                f"the connection to the orchestrator broke mid-answer ({type(exc).__name__})", "Ask again."
            ) from exc

    def _pieces(self) -> Iterator[str]:
        pieces: list[str] = []
        try:
            for line in self._response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    self.complete = True
                    break
                piece = self._take(_event(data))
                if piece:
                    pieces.append(piece)
                    yield piece
        finally:
            self.reply.content = "".join(pieces)
        if not self.complete:
            raise ApiRequestError("the answer stream ended before it was complete", "Ask again.")

    def _take(self, event: dict[str, Any]) -> str:
        """The text an event adds; its error, model, finish reason and usage are kept or raised."""
        if "error" in event:
            raise ApiRequestError(_error_text(event["error"]), "The answer stopped midway; ask again.")
        self.reply.model = event.get("model") or self.reply.model
        if event.get("usage"):
            self.reply.usage = event["usage"]
        text = []
        for choice in event.get("choices") or []:
            self.reply.finish_reason = choice.get("finish_reason") or self.reply.finish_reason
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str):
                text.append(content)
        return "".join(text)


class ProgressReader(io.BytesIO):
    """Bytes to upload that report how much has been read from them: the upload's progress."""

    def __init__(self, data: bytes, on_read: Callable[[int], None] | None) -> None:
        super().__init__(data)
        self._on_read = on_read

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if chunk and self._on_read is not None:
            self._on_read(len(chunk))
        return chunk


class OrchestratorClient:
    """Calls the orchestrator; every failure becomes one ApiRequestError that says what to check."""

    def __init__(self, endpoint: Endpoint, api_key: str | None = None, *, timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=endpoint.url, headers=headers, timeout=httpx.Timeout(timeout, connect=5.0))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OrchestratorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def upload_codebase(
        self,
        archive: bytes,
        *,
        name: str,
        workspace: str,
        on_sent: Callable[[int], None] | None = None,
        reindex: bool = False,
        prose: bool = True,
    ) -> dict[str, Any]:
        """Send a packed repository; the job record the orchestrator made for it. `reindex` clears the workspace
        first, so that everything is embedded again; `prose` says whether it holds documents."""
        files = {"file": (f"{name}.tar.gz", _reader(archive, on_sent), "application/gzip")}
        data = {"name": name, "prose": "true" if prose else "false"} | _reindex(reindex)
        body = self._request(
            "POST", "/v1/codebase/ingest", files=files, data=data, headers=_workspace(workspace), timeout=None
        )
        return dict(body["jobs"][0])

    def upload_documents(
        self,
        documents: list[tuple[str, bytes, str]],
        *,
        workspace: str,
        on_sent: Callable[[int], None] | None = None,
        reindex: bool = False,
    ) -> list[dict[str, Any]]:
        """Send files (name, data, content type); one job record each."""
        files = [("files", (name, _reader(data, on_sent), kind)) for name, data, kind in documents]
        body = self._request(
            "POST", "/v1/documents/ingest", files=files, data=_reindex(reindex), headers=_workspace(workspace),
            timeout=None,
        )  # fmt: skip
        return list(body["jobs"])

    def submit_digest(self, payload: dict[str, Any], *, workspace: str) -> dict[str, Any]:
        """Send a repository's commits of a window (POST /v1/digests); the commits counted and the job queued."""
        return dict(self._request("POST", "/v1/digests", json=payload, headers=_workspace(workspace), timeout=None))

    def digests(self, *, workspace: str, repository: str | None = None, day: str | None = None) -> list[dict[str, Any]]:
        given = (("repository", repository), ("day", day))
        params = {key: value for key, value in given if value}
        return list(self._request("GET", "/v1/digests", params=params, headers=_workspace(workspace))["data"])

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/jobs/{job_id}"))

    def find_job(self, id_or_prefix: str) -> dict[str, Any]:
        """A job by its id or by the start of it, as `jobs list` shows it (8 characters)."""
        wanted = id_or_prefix.strip().lower()
        if len(wanted) == 36:
            return self.job(wanted)
        found = [job for job in self.jobs(limit=500) if job["id"].startswith(wanted)] if wanted else []
        if len(found) == 1:
            return found[0]
        if not found:
            raise SparkctlError(f"no job's id starts with {id_or_prefix!r}", hint="`sparkctl jobs list` shows them.")
        ids = ", ".join(job["id"][:12] for job in found[:5])
        raise SparkctlError(
            f"{id_or_prefix!r} is the start of {len(found)} jobs' ids ({ids})", hint="Give more of the id."
        )

    def jobs(
        self, *, workspace: str | None = None, status: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        given = (("workspace", workspace), ("status", status), ("limit", limit))
        params = {key: value for key, value in given if value}
        return list(self._request("GET", "/v1/jobs", params=params)["data"])

    def follow_job(self, job_id: str) -> Iterator[dict[str, Any]]:
        """Each state of the job as it changes, until it is completed or failed."""
        try:
            with self._http.stream("GET", f"/v1/jobs/{job_id}/events", timeout=httpx.Timeout(60.0, connect=5.0)) as r:
                if r.status_code >= 400:
                    r.read()
                    raise self._error(r)
                event = None
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "job":
                        yield json.loads(line[6:])
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str,
        workspace: str,
        session_id: str | None = None,
        max_tokens: int | None = None,
    ) -> ChatReply:
        """One answer, whole."""
        body = _chat_body(model, messages, stream=False, max_tokens=max_tokens)
        try:
            response = self._http.post(
                "/v1/chat/completions", json=body, headers=_chat_headers(workspace, session_id), timeout=_CHAT_TIMEOUT
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise self._error(response)
        completion = _json(response)
        reply = ChatReply.from_headers(response.headers)
        choice = (completion.get("choices") or [{}])[0]
        reply.content = (choice.get("message") or {}).get("content") or ""
        reply.finish_reason = choice.get("finish_reason")
        reply.model = completion.get("model")
        reply.usage = completion.get("usage")
        reply.completion = completion
        return reply

    @contextmanager
    def stream_chat(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str,
        workspace: str,
        session_id: str | None = None,
        max_tokens: int | None = None,
    ) -> Iterator[ChatStream]:
        """The answer as it streams; leaving the block early (Ctrl-C) closes the connection, which ends it."""
        body = _chat_body(model, messages, stream=True, max_tokens=max_tokens)
        headers = _chat_headers(workspace, session_id)
        try:
            with self._http.stream(
                "POST", "/v1/chat/completions", json=body, headers=headers, timeout=_CHAT_TIMEOUT
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._error(response)
                yield ChatStream(response)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def health(self) -> dict[str, Any]:
        """The orchestrator's /health: it answers (no key needed)."""
        return dict(self._request("GET", "/health"))

    def models(self) -> list[dict[str, Any]]:
        """What a chat may ask for: model names, roles, aliases and auto."""
        return list(self._request("GET", "/v1/models")["data"])

    def sessions(self, *, workspace: str) -> list[dict[str, Any]]:
        return list(self._request("GET", "/v1/sessions", headers=_workspace(workspace))["data"])

    def session(self, session_id: str, *, workspace: str) -> dict[str, Any]:
        """A session with its stored messages."""
        return dict(self._request("GET", f"/v1/sessions/{session_id}", headers=_workspace(workspace)))

    def delete_session(self, session_id: str, *, workspace: str) -> None:
        self._request("DELETE", f"/v1/sessions/{session_id}", headers=_workspace(workspace))

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise self._error(response)
        return _json(response)

    def _unreachable(self, exc: Exception) -> ApiRequestError:
        if self.endpoint.origin == CLUSTER_ORIGIN:
            return ApiRequestError(
                f"no local stack is running, and no cluster answers at {self.endpoint.url} ({type(exc).__name__})",
                hint="Start one on this machine with `sparkctl local up`, or name the Spark with --host "
                "(or the orchestrator with --endpoint).",
            )
        return ApiRequestError(
            f"cannot reach the orchestrator at {self.endpoint.url} ({type(exc).__name__})",
            hint=f"The endpoint came from {self.endpoint.origin}. Start the stack (sparkctl local up) "
            "or pass --endpoint.",
        )

    def _error(self, response: httpx.Response) -> ApiRequestError:
        message = error_message(response)
        hints = {
            401: "Pass a valid key with --api-key or $SPARKCTL_API_KEY.",
            403: "This key is not allowed that workspace; use --workspace with one it may use.",
            413: "The upload is over the orchestrator's size limit; narrow it with --include/--exclude.",
            502: "The model's server failed; try again, or check it with sparkctl serve status.",
            503: "A server behind the orchestrator is down; see sparkctl local status or sparkctl serve status.",
            504: "The model's server was too slow; try again, or check it with sparkctl serve status.",
        }
        return ApiRequestError(
            message, hints.get(response.status_code, ""), status=response.status_code, param=_error_param(response)
        )


def error_message(response: httpx.Response) -> str:
    """The message of an OpenAI-shaped error body on one line, or the status line."""
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            return f"{response.status_code}: {_error_text(error)}"
    except (ValueError, AttributeError):
        pass
    return f"{response.status_code}: {response.reason_phrase}"


def _error_param(response: httpx.Response) -> str | None:
    try:
        param = response.json()["error"].get("param")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return param if isinstance(param, str) else None


def _error_text(error: Any) -> str:
    message = error.get("message") if isinstance(error, dict) else None
    return " ".join(str(message or error).split())


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ApiRequestError(
            f"the orchestrator at {response.request.url.host} answered {response.request.url.path} with something "
            "that is not JSON",
            hint="Check that the endpoint is sparkctl's orchestrator.",
        ) from None


def _event(data: str) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except ValueError:
        raise ApiRequestError("the answer stream held something that is not JSON", "Ask again.") from None
    if not isinstance(event, dict):
        raise ApiRequestError("the answer stream held something that is not an event", "Ask again.")
    return event


def _reader(data: bytes, on_sent: Callable[[int], None] | None) -> IO[bytes]:
    return ProgressReader(data, on_sent)


def _reindex(reindex: bool) -> dict[str, str]:
    return {"reindex": "true"} if reindex else {}


def _workspace(workspace: str) -> dict[str, str]:
    return {"X-Workspace": workspace}


def _chat_body(model: str, messages: list[dict[str, Any]], *, stream: bool, max_tokens: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return body


def _chat_headers(workspace: str, session_id: str | None) -> dict[str, str]:
    return _workspace(workspace) | ({"X-Session-Id": session_id} if session_id else {})
