"""The model servers the stack depends on: whether each answers, which models it has, the context it runs them
with; and the check that refuses an ingest whose models are unreachable, in seconds instead of a job that
retries for minutes.

The servers are those of models.toml's `embed` and `extract` models (what ingest needs) and of the chat models,
at the URLs the orchestrator routes to. A report is kept for a few seconds, so that a burst of requests asks
each server once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from sparkctl.catalog import Catalog, Model
from sparkctl.services.common.llm import ChatModel, LlmClient, LlmError, api_style
from sparkctl.services.orchestrator.errors import ApiError
from sparkctl.services.orchestrator.resources import where
from sparkctl.services.orchestrator.settings import OrchestratorSettings

PROBE_TIMEOUT = 3.0
KEEP_SECONDS = 5.0


@dataclass
class ServerState:
    url: str
    reachable: bool
    models: list[str] = field(default_factory=list)
    """What the server lists (Ollama's tags, the /v1/models ids)."""
    context: dict[str, int | None] = field(default_factory=dict)
    """Catalog model → the context a request for it gets there."""
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": where(self.url),
            "reachable": self.reachable,
            "models": self.models,
            "context": self.context,
            "error": self.error,
        }


def server_urls(catalog: Catalog, settings: OrchestratorSettings) -> dict[str, str]:
    """Catalog model name → its server: SPARKCTL_MODEL_URLS, else the embed or the LLM URL."""
    return {
        model.name: settings.model_urls.get(model.name)
        or (settings.embedding_url if model.role == "embed" else settings.llm_url)
        for model in catalog.models
    }


class ModelServers:
    def __init__(
        self,
        catalog: Catalog,
        url_of: dict[str, str],
        http: httpx.AsyncClient,
        *,
        api_key: str | None,
        embedder: str,
    ) -> None:
        self.catalog = catalog
        self.url_of = url_of
        """Catalog model name → the URL of its server."""
        self.http = http
        self.api_key = api_key
        self.embedder = embedder
        self._report: tuple[float, dict[str, ServerState]] | None = None
        self._lock = asyncio.Lock()

    async def report(self) -> dict[str, ServerState]:
        """URL → its state, for every server a catalog model is routed to."""
        async with self._lock:
            if self._report is not None and time.monotonic() - self._report[0] < KEEP_SECONDS:
                return self._report[1]
            models_at: dict[str, list[Model]] = {}
            for model in self.catalog.models:
                models_at.setdefault(self.url_of[model.name], []).append(model)
            states = await asyncio.gather(*(self._probe(url, models) for url, models in models_at.items()))
            report = {state.url: state for state in states}
            self._report = (time.monotonic(), report)
            return report

    async def require_for_ingest(self, *, prose: bool, prose_field: str | None = None) -> None:
        """503 naming the server and how to start one when a model the ingest needs is unreachable: the embed
        model (unless the built-in hash embedder is used) and, for prose, the extract model. `prose_field` names
        the request's field that asked for prose, as the error's param when the extract model is what is missing:
        the same request without prose needs no extract model."""
        needed = [] if self.embedder == "hash" else [("embed", "embeddings")]
        if prose:
            needed.append(("extract", "entity extraction from documents"))
        if not needed:
            return
        report = await self.report()
        for role, purpose in needed:
            models = self.catalog.by_role(role)
            if not models:
                continue
            state = report[self.url_of[models[0].name]]
            if not state.reachable:
                param = prose_field if role == "extract" else None
                raise ApiError(503, _unreachable(models[0], state, purpose), "model_server_unavailable", param=param)

    async def _probe(self, url: str, models: list[Model]) -> ServerState:
        client = LlmClient(url, self.http, api_key=self.api_key)
        try:
            listed = await asyncio.wait_for(self._listed(url), PROBE_TIMEOUT)
        except (LlmError, httpx.HTTPError, TimeoutError, ValueError) as exc:
            return ServerState(url, reachable=False, error=_reason(exc))
        contexts = await asyncio.gather(*(_context(client, model) for model in models))
        return ServerState(url, True, listed, {model.name: ctx for model, ctx in zip(models, contexts, strict=True)})

    async def _listed(self, url: str) -> list[str]:
        ollama = api_style(url) == "ollama"
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        response = await self.http.get(url + ("/api/tags" if ollama else "/models"), headers=headers)
        response.raise_for_status()
        body = response.json()
        if ollama:
            return [str(entry.get("name")) for entry in body.get("models") or []]
        return [str(entry.get("id")) for entry in body.get("data") or []]


async def _context(client: LlmClient, model: Model) -> int | None:
    try:
        return await asyncio.wait_for(client.served_context(ChatModel.from_catalog(model)), PROBE_TIMEOUT)
    except (LlmError, TimeoutError):
        return model.context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, LlmError):
        return exc.message
    return type(exc).__name__


def _unreachable(model: Model, state: ServerState, purpose: str) -> str:
    return (
        f"the {model.role} model {model.pull_ref} is needed for {purpose}, and its server at {where(state.url)} "
        f"is unreachable ({state.error}); start one (Ollama: `ollama serve`, then `ollama pull {model.pull_ref}`) "
        "or point SPARKCTL_LLM_URL at a running server, then ingest again"
    )
