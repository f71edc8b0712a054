"""`sparkctl opencode setup`, then the real OpenCode CLI (npm's opencode-ai) answering through the orchestrator of
a real local stack (PostgreSQL, Redis, NATS, the services); the model behind it is the deterministic LLM double.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from support.fake_llm import FakeLLM
from support.local_cli import Cli
from support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _opencode_env(cli: Cli) -> dict[str, str]:
    home = Path(cli.env["HOME"])
    return {
        **cli.env,
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
    }


def test_opencode_answers_through_the_orchestrator(
    cli: Cli, graphrag_stack: Stack, fake_llm: FakeLLM, opencode_binary: Path
) -> None:
    setup = cli.run(
        "opencode", "setup", "--endpoint", graphrag_stack.orchestrator, "--api-key", graphrag_stack.api_key, "-w", "ide"
    )
    assert setup.returncode == 0, setup.stderr
    written = json.loads((Path(cli.env["XDG_CONFIG_HOME"]) / "opencode" / "opencode.json").read_text())
    assert written["model"] == "sparkctl/coding"
    assert written["provider"]["sparkctl"]["options"]["baseURL"] == f"{graphrag_stack.orchestrator}/v1"

    answer = subprocess.run(
        [opencode_binary, "run", "Say hello to the Spark"],
        env=_opencode_env(cli),
        capture_output=True,
        text=True,
        timeout=240,
    )

    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert 'echo: "Say hello to the Spark"' in answer.stdout
    sessions = httpx.get(
        f"{graphrag_stack.orchestrator}/v1/sessions",
        headers={"Authorization": f"Bearer {graphrag_stack.api_key}", "X-Workspace": "ide"},
        timeout=10,
    )
    assert sessions.status_code == 200
    assert sessions.json()["data"], "the turn went through the orchestrator, into the IDE's workspace"


def test_setup_keeps_the_users_settings_and_replaces_only_its_own(cli: Cli) -> None:
    path = Path(cli.env["XDG_CONFIG_HOME"]) / "opencode" / "opencode.json"
    path.parent.mkdir(parents=True)
    mine = {"npm": "@ai-sdk/anthropic", "options": {"apiKey": "sk-mine"}}
    path.write_text(
        json.dumps(
            {
                "theme": "tokyonight",
                "model": "anthropic/claude",
                "provider": {"anthropic": mine, "sparkctl-old-model": {"npm": "x", "models": {}}},
            }
        )
    )

    result = cli.run("opencode", "setup", "--endpoint", "http://spark:31800", "--api-key", "spk-secret", "-o", "json")

    assert result.returncode == 0, result.stderr
    config = json.loads(path.read_text())
    assert config["theme"] == "tokyonight"
    assert config["model"] == "anthropic/claude", "the user's default model stays"
    assert config["provider"]["anthropic"] == mine
    assert "sparkctl-old-model" not in config["provider"]
    assert config["provider"]["sparkctl"]["options"]["apiKey"] == "spk-secret"
    assert path.stat().st_mode & 0o777 == 0o600
    assert "spk-secret" not in result.stdout


def test_a_config_with_comments_is_refused_and_left_as_it_is(cli: Cli) -> None:
    path = Path(cli.env["XDG_CONFIG_HOME"]) / "opencode" / "opencode.json"
    path.parent.mkdir(parents=True)
    text = '{\n  // my theme\n  "theme": "nord"\n}\n'
    path.write_text(text)

    result = cli.run("opencode", "setup", "--endpoint", "http://spark:31800")

    assert result.returncode == 1
    assert "is not plain JSON sparkctl can merge into" in result.stderr
    assert path.read_text() == text
