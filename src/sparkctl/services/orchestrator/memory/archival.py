"""Archival memory: the workspace's LightRAG graph, queried with keywords derived from the question
(so LightRAG makes no LLM call), and the sessions' summaries written into it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from sparkctl.services.common.remote import WORKSPACE_HEADER
from sparkctl.services.common.service_key import service_headers
from sparkctl.services.orchestrator.memory.keywords import query_keywords

SESSION_SOURCE_PREFIX = "chat-sessions/"
"""Summaries go into the graph as documents named after their session, so a session's can be deleted."""


@dataclass(frozen=True)
class Retrieved:
    """One piece of retrieved text: which section of the memory block it belongs to and how relevant it is,
    and the graph entity or the session it came from, when it came from one."""

    section: str
    text: str
    score: float
    entity: str | None = None
    session: str | None = None


def session_source(session: str) -> str:
    return f"{SESSION_SOURCE_PREFIX}{session}"


class Archive:
    def __init__(self, http: httpx.AsyncClient, url: str, *, top_k: int, key: SecretStr | None = None) -> None:
        self.http = http
        self.url = url
        self.top_k = top_k
        self.auth = service_headers(key)

    async def lookup(self, workspace: str, question: str) -> list[Retrieved]:
        high, low = query_keywords(question)
        if not high and not low:
            return []
        payload = {
            "query": question[:4000],
            "mode": "mix",
            "hl_keywords": high,
            "ll_keywords": low,
            "top_k": self.top_k,
            "chunk_top_k": self.top_k,
            "include_references": False,
        }
        headers = {**self.auth, WORKSPACE_HEADER: workspace}
        response = await self.http.post(f"{self.url}/query/data", json=payload, headers=headers)
        response.raise_for_status()
        return retrieved_of(response.json().get("data") or {})

    async def store_summary(self, workspace: str, session: str, summary: str) -> None:
        """The session's latest summary replaces its previous one in the graph."""
        headers = {WORKSPACE_HEADER: workspace}
        source = session_source(session)
        await self._post("/documents/delete_files", {"file_paths": [source]}, headers)
        await self._post("/documents/text", {"text": summary, "file_source": source}, headers)

    async def forget(self, workspace: str, session: str) -> None:
        payload = {"file_paths": [session_source(session)]}
        await self._post("/documents/delete_files", payload, {WORKSPACE_HEADER: workspace})

    async def _post(self, path: str, payload: dict[str, Any], headers: dict[str, str]) -> None:
        response = await self.http.post(f"{self.url}{path}", json=payload, headers={**self.auth, **headers})
        response.raise_for_status()


def retrieved_of(data: dict[str, Any]) -> list[Retrieved]:
    """LightRAG's query data as ranked pieces: earlier results of each kind score higher."""
    found: list[Retrieved] = []
    for rank, entity in enumerate(data.get("entities") or []):
        text = f"{entity.get('entity_name', '')} ({entity.get('entity_type', '')}): {entity.get('description', '')}"
        found.append(Retrieved("entities", text.strip(), 0.9 / (1 + rank), entity=entity.get("entity_name")))
    for rank, relation in enumerate(data.get("relationships") or []):
        text = f"{relation.get('src_id', '')} → {relation.get('tgt_id', '')}: {relation.get('description', '')}"
        found.append(Retrieved("relations", text.strip(), 0.7 / (1 + rank), entity=relation.get("src_id")))
    for rank, chunk in enumerate(data.get("chunks") or []):
        path = chunk.get("file_path") or "unknown source"
        found.append(Retrieved("sources", f"[{path}]\n{chunk.get('content', '')}".strip(), 0.8 / (1 + rank)))
    return found
