"""The orchestrator's /ready with the stack's real services and no worker running: it names the worker, while
readiness to serve chat (what the chart probes) holds. Real PostgreSQL, Redis and NATS; the LLM is the double."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sparkctl.local.servers import EmbeddedServer
from support.fake_llm import FakeLLM
from support.stack import services

pytestmark = pytest.mark.integration


def test_without_a_worker_ready_names_it_but_readiness_to_serve_chat_holds(
    database_url: str, nats_url: str, redis_server: EmbeddedServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    """The chart probes /ready?serving=true: a crashed worker stops ingest, not chat."""
    with services(database_url, nats_url, redis_server.url, fake_llm.url, tmp_path, worker=False) as stack:
        headers = {"Authorization": f"Bearer {stack.api_key}"}
        full = httpx.get(f"{stack.orchestrator}/ready", headers=headers, timeout=10)
        serving = httpx.get(f"{stack.orchestrator}/ready?serving=true", headers=headers, timeout=10)
    assert full.status_code == 503 and "worker" in full.json()["error"]["message"]
    assert serving.status_code == 200, serving.text
    assert serving.json()["services"]["worker"] == "down"
