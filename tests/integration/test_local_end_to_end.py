"""The README's flow, end to end, as a user runs it: `sparkctl local up --detach`, `sparkctl ingest` of a
real repository nobody here wrote (the installed httpx package's source), `sparkctl chat -m` about one of
its classes, `sparkctl local down`. Real processes and embedded servers; the model server behind the stack
is the LLM test double of support.fake_llm, which records what it was sent."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from sparkctl.local.process import free_port
from sparkctl.services.orchestrator.memory.context import OPEN
from support.fake_llm import FakeLLM
from support.local_cli import Cli

pytestmark = pytest.mark.integration

API_KEY = "e2e-key"


def test_up_ingest_chat_down(cli: Cli, fake_llm: FakeLLM) -> None:
    started = cli.up("--api-key", API_KEY, port=free_port(), llm_url=fake_llm.url)
    assert started.returncode == 0, started.stderr
    env = {"SPARKCTL_API_KEY": API_KEY}
    source = Path(httpx.__file__).parent

    ingested = cli.run("-o", "json", "ingest", str(source), "--workspace", "e2e", timeout=300, env=env)
    assert ingested.returncode == 0, ingested.stderr
    [job] = json.loads(ingested.stdout)
    assert job["status"] == "completed" and job["entities"] > 100

    again = cli.run("-o", "json", "ingest", str(source), "--workspace", "e2e", timeout=300, env=env)
    assert again.returncode == 0, again.stderr
    [repeated] = json.loads(again.stdout)
    assert repeated["files_unchanged"] >= job["files_total"] - job["files_skipped"], repeated
    assert repeated["entities"] == 0
    assert repeated["files_done"] == 0

    fake_llm.requests.clear()
    answered = cli.run(
        "chat", "--workspace", "e2e", "--model", "coding", "-m", "What does the AsyncClient class do?", env=env
    )
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.strip() == "echo: What does the AsyncClient class do?"
    chats = [r.body["messages"] for r in fake_llm.chat_requests() if r.path == "/api/chat"]
    assert chats, "the model server got no chat request"
    block = next(m["content"] for m in chats[-1] if m["role"] == "system" and OPEN in m["content"])
    assert "_client.AsyncClient (class)" in block, block

    stopped = cli.run("local", "down", timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert not cli.state_file.exists()
