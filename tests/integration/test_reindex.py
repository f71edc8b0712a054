"""Changing the embedder of a workspace: an ingest with another embedder than the one that indexed the workspace
fails at once, naming both, even when no file changed; `--reindex` clears the workspace and embeds it anew.
Real services, PostgreSQL, Redis and NATS; the built-in hash embedder at two sizes stands for two embedders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from sparkctl.client import Endpoint, OrchestratorClient
from sparkctl.local.servers import EmbeddedServer
from support.codebases import httpx_source_tarball, ingest
from support.fake_llm import FakeLLM
from support.stack import Stack, services

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
WORKSPACE = "re-embedded"


def reindex(stack: Stack, archive: bytes) -> dict[str, Any]:
    with OrchestratorClient(Endpoint(stack.orchestrator, "test"), stack.api_key) as client:
        job = client.upload_codebase(archive, name="httpx", workspace=WORKSPACE, reindex=True)
        list(client.follow_job(job["id"]))
        return client.job(job["id"])


def entities(stack: Stack, name: str) -> set[str]:
    payload = {"query": name, "mode": "local", "ll_keywords": [name], "hl_keywords": [name]}
    response = httpx.post(f"{stack.lightrag}/query/data", json=payload, headers={"LIGHTRAG-WORKSPACE": WORKSPACE})
    response.raise_for_status()
    return {entity["entity_name"] for entity in (response.json().get("data") or {}).get("entities", [])}


def test_another_embedder_is_refused_at_once_and_reindex_embeds_the_workspace_anew(
    database_url: str, nats_url: str, redis_server: EmbeddedServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    archive = httpx_source_tarball()

    with services(database_url, nats_url, redis_server.url, fake_llm.url, tmp_path / "before") as stack:
        assert ingest(stack, archive, WORKSPACE)["status"] == "completed"

    with services(
        database_url, nats_url, redis_server.url, fake_llm.url, tmp_path / "after", hash_dimensions=512
    ) as stack:
        refused = ingest(stack, archive, WORKSPACE)
        assert refused["status"] == "failed"
        assert refused["attempts"] == 1
        assert "hash (256 dimensions)" in refused["error"] and "hash (512 dimensions)" in refused["error"]
        assert "--reindex" in refused["error"]

        final = reindex(stack, archive)
        assert final["status"] == "completed", final["error"]
        assert final["files_unchanged"] == 0 and final["files_done"] > 0
        assert "httpx._client.AsyncClient" in entities(stack, "httpx._client.AsyncClient")
