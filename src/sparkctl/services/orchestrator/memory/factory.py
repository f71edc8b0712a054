"""Building the orchestrator's memory from its settings and models.toml."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from psycopg_pool import AsyncConnectionPool

from sparkctl.catalog import Catalog
from sparkctl.errors import ConfigError
from sparkctl.services.common.llm import ChatModel, LlmClient
from sparkctl.services.orchestrator.memory.archival import Archive
from sparkctl.services.orchestrator.memory.service import Budgets, Embedder, Memory, Policy
from sparkctl.services.orchestrator.memory.working import WorkingMemory
from sparkctl.services.orchestrator.settings import OrchestratorSettings

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from sparkctl.services.common.metrics import ModelCalls


def build_memory(
    settings: OrchestratorSettings,
    catalog: Catalog,
    pool: AsyncConnectionPool,
    redis: Redis,
    http: httpx.AsyncClient,
    calls: ModelCalls | None = None,
) -> Memory:
    """The memory tiers from the settings and models.toml; `calls` counts the embed and summary model requests."""
    extract, embed = catalog.by_role("extract"), catalog.by_role("embed")
    if not extract or not embed:
        raise ConfigError(
            f"{catalog.path}: chat memory needs an 'extract' model (summaries) and an 'embed' model (recall)",
            hint="Add them to models.toml, or turn memory off with SPARKCTL_MEMORY=false.",
        )
    key = settings.llm_key
    embed_client = (
        None if settings.embedder == "hash" else LlmClient(settings.embedding_url, http, api_key=key, calls=calls)
    )
    extract_url = settings.model_urls.get(extract[0].name, settings.llm_url)
    policy = Policy(
        budgets=Budgets(
            working=settings.working_budget_ms / 1000,
            recall=settings.recall_budget_ms / 1000,
            archival=settings.archival_budget_ms / 1000,
        ),
        tiers=frozenset(settings.memory_tiers),
        promote_after_turns=settings.promote_after_turns,
        archival_after_turns=settings.archival_after_turns,
        recall_top_k=settings.recall_top_k,
        recall_threshold=settings.recall_threshold,
        context_tokens=settings.memory_tokens,
        promotion_scan_every=settings.promotion_scan_seconds,
        retry_limit=settings.promotion_retry_limit_seconds,
    )
    return Memory(
        policy,
        pool,
        WorkingMemory(redis, ttl=settings.working_ttl, max_turns=settings.working_max_turns),
        Archive(http, settings.lightrag_url, top_k=settings.archival_top_k, key=settings.service_key),
        Embedder(int(embed[0].dimensions or 0), embed_client, embed[0].pull_ref),
        (LlmClient(extract_url, http, api_key=key, calls=calls), ChatModel.from_catalog(extract[0])),
    )
