"""Settings of the orchestrator."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from sparkctl.services.common.settings import LlmSettings, ServiceSettings, Url


class OrchestratorSettings(ServiceSettings, LlmSettings):
    port: int = 8100
    database_url: str
    redis_url: str = "redis://127.0.0.1:6379/0"
    nats_url: Url = "nats://127.0.0.1:4222"
    lightrag_url: Url = "http://127.0.0.1:9621"
    api_keys: SecretStr | None = Field(
        default=None,
        description="comma-separated entries KEY or KEY:WORKSPACE|WORKSPACE (a key bound to those workspaces)",
    )
    api_keys_file: Path | None = Field(default=None, description="the same entries, one per line (a mounted secret)")
    cors_origins: tuple[str, ...] = ()
    max_upload_bytes: int = Field(
        default=2 * 1024 * 1024 * 1024,
        description="largest archive or document accepted (a packed Linux kernel: 250 MB); uploads stream to "
        "PostgreSQL in pieces, never held whole",
    )
    max_chat_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, description="largest chat request accepted")
    readiness_timeout: float = 1.0
    model_urls: dict[str, Url] = Field(
        default={},
        description="model name → its server's URL (Ollama, or an OpenAI-compatible /v1 base); others use llm_url",
    )
    memory: bool = Field(default=True, description="the three memory tiers on chat requests")
    memory_tiers: frozenset[Literal["working", "recall", "archival"]] = Field(
        default=frozenset({"working", "recall", "archival"}), description="the tiers consulted (others report 'off')"
    )
    working_budget_ms: float = Field(default=50, gt=0, description="time budget of the working-memory lookup")
    recall_budget_ms: float = Field(default=150, gt=0, description="time budget of the recall lookup")
    archival_budget_ms: float = Field(default=800, gt=0, description="time budget of the archival (LightRAG) lookup")
    working_ttl: int = Field(default=7 * 24 * 3600, ge=60, description="seconds a session's turns stay in Redis")
    working_max_turns: int = Field(default=20, ge=1, description="turns kept in working memory per session")
    promote_after_turns: int = Field(default=6, ge=1, description="user turns between two summaries of a session")
    archival_after_turns: int = Field(
        default=12, ge=1, description="user turns between two insertions of a session's summary into the graph"
    )
    promotion_scan_seconds: float = Field(
        default=30, gt=0, description="how often PostgreSQL is asked for promotions due but queued nowhere"
    )
    promotion_retry_limit_seconds: float = Field(
        default=30, gt=0, description="longest wait before a failed promotion (LightRAG busy or down) runs again"
    )
    recall_top_k: int = Field(default=3, ge=1, description="summaries of other sessions recalled at most")
    recall_threshold: float = Field(default=0.35, ge=-1, le=1, description="least cosine similarity recalled")
    archival_top_k: int = Field(default=8, ge=1, description="entities, relations and chunks asked of LightRAG")
    memory_tokens: int = Field(default=1500, ge=100, description="size of the memory block (estimated tokens)")
    trace_ttl_seconds: int = Field(
        default=7 * 24 * 3600, ge=60, description="seconds an answer's memory trace stays in Redis"
    )
