"""The HTTP client of the orchestrator's API, used by `sparkctl ingest`, `jobs` and `chat`."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import httpx

from sparkctl.errors import SparkctlError

ENDPOINT_ENV = "SPARKCTL_ENDPOINT"
API_KEY_ENV = "SPARKCTL_API_KEY"
CLUSTER_NODE_PORT = 31800


class ApiRequestError(SparkctlError):
    """The orchestrator answered with an error, or could not be reached."""

    def __init__(self, message: str, hint: str | None = None, *, status: int | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


@dataclass(frozen=True)
class Endpoint:
    url: str
    origin: str
    """Where the URL came from, for messages: --endpoint, $SPARKCTL_ENDPOINT, local stack, cluster."""


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
    return Endpoint(f"http://{cluster_host or '127.0.0.1'}:{CLUSTER_NODE_PORT}", "the cluster's NodePort")


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
        self, archive: bytes, *, name: str, workspace: str, on_sent: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        """Send a packed repository; the job record the orchestrator made for it."""
        files = {"file": (f"{name}.tar.gz", _reader(archive, on_sent), "application/gzip")}
        body = self._request(
            "POST", "/v1/codebase/ingest", files=files, data={"name": name}, headers=_workspace(workspace), timeout=None
        )
        return dict(body["jobs"][0])

    def upload_documents(
        self, documents: list[tuple[str, bytes, str]], *, workspace: str, on_sent: Callable[[int], None] | None = None
    ) -> list[dict[str, Any]]:
        """Send files (name, data, content type); one job record each."""
        files = [("files", (name, _reader(data, on_sent), kind)) for name, data, kind in documents]
        body = self._request("POST", "/v1/documents/ingest", files=files, headers=_workspace(workspace), timeout=None)
        return list(body["jobs"])

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/jobs/{job_id}"))

    def jobs(self, *, workspace: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        params = {key: value for key, value in (("workspace", workspace), ("status", status)) if value}
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

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise self._error(response)
        return response.json()

    def _unreachable(self, exc: Exception) -> ApiRequestError:
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
            503: "A server behind the orchestrator is down; see sparkctl local status.",
        }
        return ApiRequestError(message, hints.get(response.status_code, ""), status=response.status_code)


def error_message(response: httpx.Response) -> str:
    """The message of an OpenAI-shaped error body, or the status line."""
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            return f"{response.status_code}: {error['message']}"
    except (ValueError, AttributeError):
        pass
    return f"{response.status_code}: {response.reason_phrase}"


def _reader(data: bytes, on_sent: Callable[[int], None] | None) -> IO[bytes]:
    return ProgressReader(data, on_sent)


def _workspace(workspace: str) -> dict[str, str]:
    return {"X-Workspace": workspace}
