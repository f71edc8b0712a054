"""Clients of the preprocessor and LightRAG services, used by the worker and the preprocessor.

A server that is down, slow or answering 5xx raises ServiceUnavailable (worth retrying later); a 4xx
answer means the request itself is wrong, which a retry would not change.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from sparkctl.errors import ServiceUnavailable, SparkctlError
from sparkctl.services.common.service_key import service_headers

WORKSPACE_HEADER = "LIGHTRAG-WORKSPACE"


class ServiceClient:
    """POSTs JSON to one service and turns its failures into errors that name it."""

    def __init__(self, http: httpx.AsyncClient, name: str, url: str, key: SecretStr | None = None) -> None:
        self.http = http
        self.name = name
        self.url = url
        self.auth = service_headers(key)

    async def post(self, path: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return await self.send("POST", path, payload, headers)

    async def send(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        raw: bool = False,
        body: bytes | None = None,
    ) -> Any:
        """The answer's JSON (`raw`: its bytes, unparsed); `body` is a payload already encoded as JSON."""
        sent = {"json": payload} if body is None else {"content": body}
        json_headers = {} if body is None else {"content-type": "application/json"}
        try:
            response = await self.http.request(
                method, f"{self.url}{path}", headers={**self.auth, **json_headers, **(headers or {})}, **sent
            )
        except httpx.TimeoutException as exc:
            message = f"{self.name} at {self.url} did not answer in time ({type(exc).__name__})"
            raise ServiceUnavailable(message) from exc
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"{self.name} at {self.url} is unreachable ({type(exc).__name__})") from exc
        if response.status_code >= 500:
            raise ServiceUnavailable(f"{self.name} at {self.url} failed: {_reason(response)}")
        if response.status_code >= 400:
            raise ServiceRefused(f"{self.name} refused {path}: {_reason(response)}", code=_code(response))
        return response.content if raw else response.json()


class ServiceRefused(SparkctlError):
    """A service answered that this request is wrong (a 4xx); `code` is its error code, when it gave one."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def _code(response: httpx.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return str(error["code"]) if isinstance(error, dict) and error.get("code") else None


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return f"HTTP {response.status_code}: {error['message']}"
    detail = body.get("detail") if isinstance(body, dict) else None
    return f"HTTP {response.status_code}: {detail or body}"


class PreprocessorClient(ServiceClient):
    def __init__(self, http: httpx.AsyncClient, url: str, key: SecretStr | None = None) -> None:
        super().__init__(http, "preprocessor", url, key)

    async def parse_batch(self, files: Sequence[tuple[str, bytes]]) -> bytes:
        """The answer as it came, unparsed (the worker spills it to disk): `{"files": [ParsedFile, ...]}` for these
        files, in the same order."""
        payload = {"files": [{"path": path, "content_base64": base64.b64encode(data).decode()} for path, data in files]}
        return bytes(await self.send("POST", "/parse/batch", payload, raw=True))


class LightragClient(ServiceClient):
    def __init__(self, http: httpx.AsyncClient, url: str, key: SecretStr | None = None) -> None:
        super().__init__(http, "LightRAG", url, key)

    async def insert_custom_kg(
        self, workspace: str, kg: dict[str, Any], *, defer_graph_write: bool = False
    ) -> dict[str, Any]:
        """`defer_graph_write`: the graph file is written by `commit_graph`, not by this insert."""
        payload = kg | ({"defer_graph_write": True} if defer_graph_write else {})
        return dict(await self.post("/documents/custom_kg", payload, {WORKSPACE_HEADER: workspace}))

    async def insert_custom_kg_json(self, workspace: str, body: bytes) -> dict[str, Any]:
        """`insert_custom_kg` with the request already encoded (in a thread, while the previous insert was sent)."""
        answer = await self.send("POST", "/documents/custom_kg", None, {WORKSPACE_HEADER: workspace}, body=body)
        return dict(answer)

    async def commit_graph(self, workspace: str, *, build_indexes: bool = False) -> dict[str, Any]:
        """Write the graph changes deferred inserts and deletions left in memory; `build_indexes` at the end of a
        bulk write, to have the vector indexes its inserts dropped built again."""
        payload = {"build_indexes": True} if build_indexes else {}
        return dict(await self.post("/documents/commit_graph", payload, {WORKSPACE_HEADER: workspace}))

    async def insert_text(self, workspace: str, text: str, file_source: str) -> dict[str, Any]:
        payload = {"text": text, "file_source": file_source}
        return dict(await self.post("/documents/text", payload, {WORKSPACE_HEADER: workspace}))

    async def check_embedder(self, workspace: str) -> dict[str, Any]:
        """ServiceRefused (code `embedder_changed`) when the workspace was indexed with another embedder."""
        return dict(await self.send("GET", "/documents/embedder", None, {WORKSPACE_HEADER: workspace}))

    async def clear(self, workspace: str) -> dict[str, Any]:
        """Everything the workspace holds, so that it is indexed anew."""
        return dict(await self.send("DELETE", "/documents", None, {WORKSPACE_HEADER: workspace}))

    async def delete_files(
        self, workspace: str, paths: Sequence[str], *, defer_graph_write: bool = False
    ) -> dict[str, Any]:
        if not paths:
            return {}
        payload: dict[str, Any] = {"file_paths": list(paths)} | (
            {"defer_graph_write": True} if defer_graph_write else {}
        )
        return dict(await self.post("/documents/delete_files", payload, {WORKSPACE_HEADER: workspace}))
