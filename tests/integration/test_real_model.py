"""The stack's model client and the orchestrator against a real OpenAI-compatible server on CPU: llama-cpp-python
with SmolLM2-135M (tests/support/llama_server.py). Its answers are real, so these tests check shapes and flow;
exact answers are the LLM double's job.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import pytest

from sparkctl.local.servers import EmbeddedServer
from sparkctl.services.common.llm import ChatModel, LlmClient, create_http_client
from support.codebases import httpx_source_tarball, ingest
from support.llama_server import EMBEDDING_DIMENSIONS, LlamaServer
from support.orchestrator import Start, client
from support.stack import services

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_embeddings_have_the_models_own_size_one_per_text(llama_server: LlamaServer) -> None:
    async def embed() -> np.ndarray:
        async with create_http_client(60) as http:
            return await LlmClient(llama_server.url, http).embed("smollm2", ["def parse(text): ...", "a README"])

    vectors = asyncio.run(embed())

    assert vectors.shape == (2, EMBEDDING_DIMENSIONS), "a vector per token from the server, pooled per text"
    assert not np.allclose(vectors[0], vectors[1])


def test_the_orchestrator_streams_a_real_models_answer(llama_server: LlamaServer, start_orchestrator: Start) -> None:
    url = start_orchestrator(llm_url=llama_server.url, memory=False)

    stream = client(url).chat.completions.create(
        model="coding", messages=[{"role": "user", "content": "Name one colour."}], stream=True, max_tokens=20
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]

    assert len(pieces) > 1, "streamed in several chunks"
    assert "".join(pieces).strip()


def test_a_context_overflow_is_the_models_400_not_a_retry(llama_server: LlamaServer, start_orchestrator: Start) -> None:
    url = start_orchestrator(llm_url=llama_server.url, memory=False)
    too_long = "word " * 20000

    response = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "coding", "messages": [{"role": "user", "content": too_long}], "max_tokens": 5},
        headers={"Authorization": "Bearer admin-key"},
        timeout=120,
    )

    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["message"]


def test_a_server_that_does_not_say_its_context_leaves_the_catalogs(llama_server: LlamaServer) -> None:
    """llama-cpp-python's server has neither vLLM's max_model_len nor llama-server's /props."""

    async def served() -> int | None:
        async with httpx.AsyncClient() as http:
            return await LlmClient(llama_server.url, http).served_context(ChatModel("smollm2", context=4096))

    assert asyncio.run(served()) == 4096


def test_a_repository_with_a_readme_is_ingested_through_the_real_model(
    llama_server: LlamaServer,
    database_url: str,
    nats_url: str,
    redis_server: EmbeddedServer,
    tmp_path: Path,
) -> None:
    """The code graph lands without the model; the README goes through LightRAG's extraction by SmolLM2, whose
    requests fit the 4 096-token context models.toml gives it here. Whatever the small model makes of it, the job
    completes and the README is either indexed or recorded with its reason, never retried as a whole job."""
    catalog = tmp_path / "models.toml"
    shipped = Path(__file__).parents[2] / "src" / "sparkctl" / "models.toml"
    extract = 'role = "extract"\nname = "qwen3"'
    text = shipped.read_text()
    start = text.index(extract)
    catalog.write_text(text[:start] + text[start:].replace("context = 32768", "context = 4096", 1))
    readme = b"# tiny\n\nThe tiny package parses a config file with the Parser class and reports errors.\n"
    archive = httpx_source_tarball(extra={"README.md": readme})

    with services(
        database_url, nats_url, redis_server.url, llama_server.url, tmp_path, prose_mode="extract", models=catalog
    ) as stack:
        final = ingest(stack, archive, "real-model")

    assert final["status"] == "completed", final["error"]
    assert final["attempts"] == 1
    assert final["entities"] > 0, "the code graph landed"
    skipped = dict(final["skipped_files"])
    assert "README.md" not in skipped or skipped["README.md"].startswith("extraction failed")
