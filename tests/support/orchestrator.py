"""Starting orchestrators in a test, and reading what the LLM test double received from them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import openai
import pytest

from sparkctl.local.process import free_port
from sparkctl.local.servers import EmbeddedServer
from sparkctl.services.orchestrator.app import create_app
from sparkctl.services.orchestrator.memory.service import SUMMARY_PROMPT
from sparkctl.services.orchestrator.settings import OrchestratorSettings
from support.asgi import serving
from support.fake_llm import FakeLLM

KEYS = "admin-key,team-a-key:team-a"
Start = Callable[..., str]


@pytest.fixture
def start_orchestrator(
    database_url: str, redis_server: EmbeddedServer, nats_url: str, fake_llm: FakeLLM
) -> Iterator[Start]:
    """Start orchestrators on free ports (overrides go to its settings); all stop at the end of the test."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> str:
            values: dict[str, Any] = {
                "database_url": database_url,
                "redis_url": redis_server.url,
                "nats_url": nats_url,
                "lightrag_url": f"http://127.0.0.1:{free_port()}",
                "llm_url": fake_llm.url,
                "api_keys": KEYS,
                "embedder": "hash",
                "archival_budget_ms": 300,
            }
            app = create_app(OrchestratorSettings(**(values | overrides)))
            return stack.enter_context(serving(app, free_port()))

        yield start


def client(url: str, key: str = "admin-key", **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, default_headers=headers, max_retries=0)


def chat_messages(fake: FakeLLM) -> list[list[dict[str, Any]]]:
    """The messages of every chat request the backend received, summaries left out."""
    found = []
    for request in fake.chat_requests():
        messages = request.body.get("messages") or []
        if not any(m.get("content") == SUMMARY_PROMPT for m in messages):
            found.append(messages)
    return found


def summary_requests(fake: FakeLLM) -> int:
    return sum(
        1
        for request in fake.chat_requests()
        if any(m.get("content") == SUMMARY_PROMPT for m in request.body.get("messages") or [])
    )


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
