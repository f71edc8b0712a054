"""The model server of the local stack as `local status` reports it: whether it answers, which of models.toml's
models it has, and the context it runs them with (asked of the server the way the orchestrator asks)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sparkctl.services.orchestrator.model_servers import ServerState


def model_servers(llm_url: str, embedder: str) -> list[ServerState]:
    """Each server the stack's models are served from (the local stack has one: `--llm-url`)."""
    import httpx

    from sparkctl.catalog import load_catalog
    from sparkctl.services.orchestrator.model_servers import ModelServers

    catalog = load_catalog()

    async def report() -> list[ServerState]:
        async with httpx.AsyncClient(timeout=5.0) as http:
            urls = {model.name: llm_url.rstrip("/") for model in catalog.models}
            servers = ModelServers(catalog, urls, http, api_key=None, embedder=embedder)
            return list((await servers.report()).values())

    return asyncio.run(report())
