"""The LightRAG service's graph reads (its /explore routes) and the clearing of a workspace, as the orchestrator
asks them for the console, with LightRAG's failures turned into the orchestrator's errors."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from sparkctl.services.common.remote import WORKSPACE_HEADER
from sparkctl.services.common.service_key import service_headers
from sparkctl.services.orchestrator.errors import ApiError
from sparkctl.services.orchestrator.resources import where

READ_TIMEOUT = 30.0
CLEAR_TIMEOUT = 120.0


class Explorer:
    def __init__(self, http: httpx.AsyncClient, url: str, key: SecretStr | None) -> None:
        self.http = http
        self.url = url
        self.auth = service_headers(key)

    async def stats(self, workspace: str) -> dict[str, Any]:
        """entities, relations, chunks and the embedder the workspace was indexed with (or None)."""
        return await self._get("/explore/stats", workspace, {})

    async def search(self, workspace: str, text: str, limit: int) -> dict[str, Any]:
        return await self._get("/explore/entities", workspace, {"q": text, "limit": limit})

    async def neighbourhood(self, workspace: str, entity: str, depth: int, max_nodes: int) -> dict[str, Any]:
        params = {"entity": entity, "depth": depth, "max_nodes": max_nodes}
        return await self._get("/explore/neighbourhood", workspace, params)

    async def entity(self, workspace: str, entity: str) -> dict[str, Any]:
        return await self._get("/explore/entity", workspace, {"id": entity})

    async def clear(self, workspace: str) -> None:
        """Every document, chunk, entity, relationship and vector of the workspace; 409 while it is indexed."""
        await self._send("DELETE", "/documents", workspace, None, CLEAR_TIMEOUT)

    async def _get(self, path: str, workspace: str, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send("GET", path, workspace, params, READ_TIMEOUT)

    async def _send(
        self, method: str, path: str, workspace: str, params: dict[str, Any] | None, timeout: float
    ) -> dict[str, Any]:
        headers = {**self.auth, WORKSPACE_HEADER: workspace}
        try:
            response = await self.http.request(
                method, f"{self.url}{path}", params=params, headers=headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise ApiError(
                503, f"LightRAG at {where(self.url)} is unreachable ({type(exc).__name__})", "lightrag_unavailable"
            ) from exc
        if response.status_code < 400:
            return dict(response.json())
        raise _refused(response, self.url)


def _refused(response: httpx.Response, url: str) -> ApiError:
    """LightRAG's error as the orchestrator's: its own code for what the client can act on, else a 502."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    message = str(error.get("message") or response.text[:200])
    code = str(error.get("code") or "")
    if response.status_code == 404 and code == "entity_not_found":
        return ApiError(404, message, "entity_not_found")
    if response.status_code == 409:
        return ApiError(409, message, code or "workspace_busy")
    if response.status_code == 503:
        return ApiError(503, f"LightRAG at {where(url)}: {message}", code or "lightrag_unavailable")
    return ApiError(502, f"LightRAG at {where(url)} failed: HTTP {response.status_code}: {message}", "lightrag_failed")
