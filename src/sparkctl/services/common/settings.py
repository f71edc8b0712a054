"""Service settings from SPARKCTL_* environment variables: one class per service, read once, passed down.

The Helm chart and the local stack set the same variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _url(value: str) -> str:
    return value.rstrip("/")


Url = Annotated[str, AfterValidator(_url)]


class ServiceSettings(BaseSettings):
    """What every service reads."""

    model_config = SettingsConfigDict(env_prefix="SPARKCTL_", extra="ignore", frozen=True)

    host: str = "0.0.0.0"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    models: Path | None = Field(default=None, description="models.toml; default: the one shipped in the package")
    service_key: SecretStr | None = Field(
        default=None, description="the key between the services (and on their NodePorts); unset: open routes"
    )
    metrics_port: int = Field(
        default=0, ge=0, le=65535, description="GET /metrics without a key on host:port (the pod network); 0: none"
    )


class LlmSettings(BaseSettings):
    """Where the models are served: Ollama's API, or an OpenAI-compatible /v1 base."""

    model_config = SettingsConfigDict(env_prefix="SPARKCTL_", extra="ignore", frozen=True)

    llm_url: Url = "http://127.0.0.1:11434"
    llm_api_key: SecretStr | None = None
    embed_url: Url | None = Field(default=None, description="default: llm_url")
    embedder: Literal["llm", "hash"] = "llm"
    llm_timeout: float = 300.0

    @property
    def embedding_url(self) -> str:
        return self.embed_url or self.llm_url

    @property
    def llm_key(self) -> str | None:
        """The model servers' API key in clear, for an Authorization header."""
        return self.llm_api_key.get_secret_value() if self.llm_api_key else None
