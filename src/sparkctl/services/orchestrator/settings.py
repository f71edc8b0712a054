"""Settings of the orchestrator."""

from __future__ import annotations

from pathlib import Path

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
    max_upload_bytes: int = Field(default=256 * 1024 * 1024, description="largest archive or document accepted")
    readiness_timeout: float = 1.0
