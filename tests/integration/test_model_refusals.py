"""A model server's permanent answers (a 4xx, embeddings of the wrong size) are never retried: a document the
model refuses is recorded with its reason while the code graph lands, and a wrong embedder fails the job at
once. Real services, PostgreSQL, Redis and NATS; the model is the LLM double, or the real llama.cpp server.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from sparkctl.local.servers import EmbeddedServer
from sparkctl.services.common.llm import ChatModel, LlmClient, LlmFailed, LlmRefused, create_http_client
from sparkctl.services.lightrag.engine import Models, OfflineTokenizer
from support.codebases import httpx_source_tarball, ingest
from support.fake_llm import FakeLLM
from support.llama_server import LlamaServer
from support.stack import services

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

README = b"# httpx\n\nA next-generation HTTP client for Python, with sync and async APIs.\n" * 20


@pytest.mark.parametrize(("status", "refused"), [(400, True), (404, True), (422, True), (429, False), (503, False)])
def test_a_4xx_is_a_refusal_and_429_or_5xx_a_passing_failure(fake_llm: FakeLLM, status: int, refused: bool) -> None:
    fake_llm.fail_with = status

    async def chat() -> None:
        async with create_http_client(10) as http:
            await LlmClient(f"{fake_llm.url}/v1", http).embed("any", ["text"])

    with pytest.raises(LlmFailed) as raised:
        asyncio.run(chat())

    assert isinstance(raised.value, LlmRefused) is refused


def test_a_document_the_model_refuses_is_recorded_the_code_graph_lands_and_a_re_ingest_tries_it_again(
    database_url: str, nats_url: str, redis_server: EmbeddedServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.fail_with = 400
    archive = httpx_source_tarball(extra={"README.md": README})
    with services(database_url, nats_url, redis_server.url, fake_llm.url, tmp_path, prose_mode="extract") as stack:
        final = ingest(stack, archive, "refused-prose")
        fake_llm.fail_with = None
        again = ingest(stack, archive, "refused-prose")

    assert final["status"] == "completed", final
    assert final["attempts"] == 1
    assert final["entities"] > 0, "the code graph landed"
    assert final["skipped"].get("extraction failed") == 1
    reason = next(reason for path, reason in final["skipped_files"] if path == "README.md")
    assert "HTTP 400" in reason
    assert again["status"] == "completed", again
    assert again["files_done"] == 1, "README.md, tried again; the code is unchanged"
    assert "extraction failed" not in again["skipped"]


def test_a_wrong_embedder_fails_the_job_at_once_saying_so(
    database_url: str, nats_url: str, redis_server: EmbeddedServer, llama_server: LlamaServer, tmp_path: Path
) -> None:
    started = time.monotonic()
    with services(database_url, nats_url, redis_server.url, llama_server.url, tmp_path, embedder="llm") as stack:
        final = ingest(stack, httpx_source_tarball(), "wrong-embedder")

    assert final["status"] == "failed", final
    assert final["attempts"] == 1, "a permanent answer is not retried"
    assert "returned 576-dimensional embeddings" in final["error"]
    assert "models.toml says 1024" in final["error"]
    assert time.monotonic() - started < 60


def test_extraction_requests_carry_a_max_tokens_within_the_extract_models_context(
    database_url: str, nats_url: str, redis_server: EmbeddedServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    with services(database_url, nats_url, redis_server.url, fake_llm.url, tmp_path, prose_mode="extract") as stack:
        final = ingest(stack, httpx_source_tarball(extra={"README.md": README}), "bounded-output")

    assert final["status"] == "completed", final["error"]
    bodies = [request.body for request in fake_llm.chat_requests()]
    assert bodies, "the README went through extraction"
    limits = [body.get("max_tokens") or (body.get("options") or {}).get("num_predict") for body in bodies]
    assert all(isinstance(limit, int) and 256 <= limit < 32768 for limit in limits), limits


@pytest.mark.parametrize("style", ["ollama", "openai"])
def test_the_extract_models_context_is_what_its_server_says(fake_llm: FakeLLM, style: str) -> None:
    """The LightRAG service's extract model takes its context from the server: Ollama's /api/show caps the
    num_ctx sent, an OpenAI-style server's /v1/models or /props replaces models.toml's figure."""
    fake_llm.served_context = 2048
    url = fake_llm.url if style == "ollama" else f"{fake_llm.url}/v1"

    async def learned() -> int | None:
        async with httpx.AsyncClient() as http:
            client = LlmClient(url, http)
            models = Models(ChatModel("fake", context=8192), "hash", 64, 512, client, None, OfflineTokenizer())
            await models.learn_context()
            return models.extract.context

    assert asyncio.run(learned()) == 2048
