"""`sparkctl chat` against the real orchestrator of graphrag_stack (real PostgreSQL, Redis, NATS and LightRAG),
one-shot through Typer's runner and the REPL in a real terminal (a pty driven by pexpect). The model behind the
orchestrator is the LLM test double (support.fake_llm): it answers "echo: <the last user message>"."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest
from typer.testing import CliRunner, Result

from sparkctl.cli.app import app
from sparkctl.client import ApiRequestError, Endpoint, OrchestratorClient
from support.fake_llm import FakeLLM
from support.stack import Stack

pytestmark = pytest.mark.integration
runner = CliRunner()
PROMPT_TIMEOUT = 30
STYLE = r"(?:\x1b\[[0-9;]*m)*"
"""Style changes between words on the terminal (NO_COLOR keeps bold and dim)."""
ERROR = rf"Error:{STYLE} "


def sparkctl(stack: Stack, *args: str, stdin: str | None = None) -> Result:
    env = {"SPARKCTL_ENDPOINT": stack.orchestrator, "SPARKCTL_API_KEY": stack.api_key}
    return runner.invoke(app, list(args), env=env, input=stdin)


def user_messages_sent(fake: FakeLLM) -> list[list[str]]:
    """For each chat request the model got, the contents of its user and assistant messages."""
    return [
        [str(m.get("content")) for m in request.body.get("messages", []) if m.get("role") in ("user", "assistant")]
        for request in fake.chat_requests()
    ]


def test_one_message_prints_only_the_streamed_answer(graphrag_stack: Stack) -> None:
    result = sparkctl(graphrag_stack, "chat", "-m", "hello there")

    assert result.exit_code == 0, result.output
    assert result.stdout == "echo: hello there\n"
    assert result.stderr == ""


def test_one_message_without_streaming_prints_the_same(graphrag_stack: Stack) -> None:
    result = sparkctl(graphrag_stack, "chat", "--no-stream", "--model", "coding", "-m", "whole")

    assert result.exit_code == 0, result.output
    assert result.stdout == "echo: whole\n"


def test_a_piped_message_is_answered_once(graphrag_stack: Stack) -> None:
    result = sparkctl(graphrag_stack, "chat", stdin="from a pipe\n")

    assert result.exit_code == 0, result.output
    assert result.stdout == "echo: from a pipe\n"


def test_json_output_is_the_whole_response_with_session_backend_and_memory(graphrag_stack: Stack) -> None:
    result = sparkctl(graphrag_stack, "-o", "json", "chat", "-m", "as json", "-w", "chat-json")

    assert result.exit_code == 0, result.output
    response = json.loads(result.stdout)
    assert response["object"] == "chat.completion"
    assert response["choices"][0]["message"]["content"] == "echo: as json"
    extra = response["sparkctl"]
    assert extra["workspace"] == "chat-json"
    assert extra["session_id"] and extra["backend"]
    assert set(dict(item.split("=") for item in extra["memory"].split(";"))) == {"working", "recall", "archival"}


def test_a_session_continues_across_one_shot_answers(graphrag_stack: Stack, fake_llm: FakeLLM) -> None:
    first = sparkctl(graphrag_stack, "chat", "--session", "cli-continued", "-m", "remember the Walrus")
    assert first.exit_code == 0, first.output

    second = sparkctl(graphrag_stack, "chat", "--session", "cli-continued", "-m", "what did I say?")

    assert second.stdout == "echo: what did I say?\n"
    assert user_messages_sent(fake_llm)[-1] == ["remember the Walrus", "echo: remember the Walrus", "what did I say?"]


def test_an_unknown_model_exits_1_with_the_available_ones(graphrag_stack: Stack) -> None:
    result = sparkctl(graphrag_stack, "chat", "--model", "nope", "-m", "hi")

    assert result.exit_code == 1
    assert result.stdout == ""
    first_line = result.stderr.splitlines()[0]
    assert first_line.startswith("Error: 404: unknown model 'nope'; available: ")
    assert {"coding", "reasoning", "qwen3-coder-next"} <= set(first_line.split("available: ")[1].split(", "))


def test_a_wrong_key_is_one_line_with_what_to_do(graphrag_stack: Stack) -> None:
    result = runner.invoke(
        app, ["chat", "-m", "hi", "--endpoint", graphrag_stack.orchestrator, "--api-key", "wrong"], env={}
    )

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: 401: invalid API key",
        "  Pass a valid key with --api-key or $SPARKCTL_API_KEY.",
    ]


Terminal = Callable[..., pexpect.spawn]


@pytest.fixture
def terminal(graphrag_stack: Stack, tmp_path: Path) -> Iterator[Terminal]:
    """Start `sparkctl chat ARGS` in a pseudo-terminal of 40x120 with its own state folder (for the history file),
    once its first prompt is shown; every one still running is killed at the end."""
    env = {
        **os.environ,
        "SPARKCTL_ENDPOINT": graphrag_stack.orchestrator,
        "SPARKCTL_API_KEY": graphrag_stack.api_key,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "TERM": "xterm-256color",
        "NO_COLOR": "1",
        "PROMPT_TOOLKIT_NO_CPR": "1",
    }
    children: list[pexpect.spawn] = []

    def start(*args: str, prompt: str = "auto@default>") -> pexpect.spawn:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "sparkctl", "chat", *args],
            env=env,
            dimensions=(40, 120),
            encoding="utf-8",
            timeout=PROMPT_TIMEOUT,
        )
        children.append(child)
        child.expect_exact(prompt)
        return child

    yield start
    for child in children:
        if child.isalive():
            child.terminate(force=True)


@pytest.fixture
def repl(terminal: Terminal) -> pexpect.spawn:
    return terminal()


def send(child: pexpect.spawn, line: str) -> None:
    """Type a line and press Enter (a carriage return, as a terminal sends it)."""
    child.send(line + "\r")


def test_the_repl_streams_answers_switches_models_and_leaves_with_ctrl_d(
    repl: pexpect.spawn, tmp_path: Path, fake_llm: FakeLLM
) -> None:
    send(repl, "hello repl")
    repl.expect_exact("echo: hello repl")
    repl.expect_exact("auto@default>")

    send(repl, "/model coding")
    repl.expect_exact("Model: coding")
    repl.expect_exact("coding@default>")
    send(repl, "after the switch")
    repl.expect_exact("echo: after the switch")
    repl.expect_exact("coding@default>")
    assert fake_llm.chat_requests()[-1].body["model"].startswith("qwen3-coder-next")

    send(repl, "/memory")
    repl.expect(r"Backend: (\S+)")
    assert repl.match.group(1).startswith("qwen3-coder-next")
    repl.expect(r"working\s+hit")
    repl.expect_exact("coding@default>")

    send(repl, "/session")
    repl.expect(r"Session: ([0-9a-f]{16,})")
    repl.expect_exact("coding@default>")

    repl.sendcontrol("d")
    repl.expect(pexpect.EOF)
    repl.close()
    assert repl.exitstatus == 0
    history = (tmp_path / "state" / "sparkctl" / "chat-history").read_text()
    assert "hello repl" in history and "/model coding" in history


def test_an_error_is_one_line_and_the_repl_stays_open(repl: pexpect.spawn, fake_llm: FakeLLM) -> None:
    send(repl, "/model codng")
    repl.expect(ERROR + "the orchestrator knows no model named 'codng'")
    repl.expect_exact("Did you mean coding? /models lists them.")
    repl.expect_exact("auto@default>")

    send(repl, "/workspace nothing-here")
    repl.expect_exact("Workspace: nothing-here, in a new session.")
    repl.expect_exact("has no ingested sources and no sessions yet")
    repl.expect_exact("auto@nothing-here>")
    send(repl, "/workspace default")
    repl.expect_exact("auto@default>")

    send(repl, "/bogus")
    repl.expect(ERROR + "unknown command /bogus")
    repl.expect_exact("auto@default>")
    fake_llm.fail_with = 503
    send(repl, "is the model up?")
    repl.expect(ERROR + r"50[234]: [^\r\n]*qwen3-coder-next")
    repl.expect_exact("auto@default>")

    fake_llm.fail_with = None
    fake_llm.cut_stream = True
    send(repl, "a long answer")
    repl.expect(ERROR + r"[^\r\n]*mid-answer")
    repl.expect_exact("auto@default>")

    fake_llm.cut_stream = False
    send(repl, "still here")
    repl.expect_exact("echo: still here")
    repl.expect_exact("auto@default>")
    assert repl.isalive()


def test_ctrl_c_cancels_a_slow_answer_and_returns_to_the_prompt(repl: pexpect.spawn, fake_llm: FakeLLM) -> None:
    fake_llm.latency = 20.0
    send(repl, "take your time")
    repl.expect_exact("waiting for the answer", timeout=5)
    started = time.monotonic()
    repl.sendintr()
    repl.expect_exact("(cancelled)", timeout=5)
    repl.expect_exact("auto@default>", timeout=5)
    assert time.monotonic() - started < 5

    fake_llm.latency = 0.0
    send(repl, "quick one")
    repl.expect_exact("echo: quick one")
    repl.expect_exact("auto@default>")
    assert repl.isalive()


def test_a_newline_key_makes_a_multi_line_message(repl: pexpect.spawn, fake_llm: FakeLLM) -> None:
    repl.send("first line")
    repl.send("\x1b\r")
    send(repl, "second line")
    repl.expect_exact("echo: first line")
    repl.expect_exact("auto@default>")

    assert user_messages_sent(fake_llm)[-1][-1] == "first line\nsecond line"


def test_a_session_is_resumed_with_its_history_and_commands_show_the_state(
    graphrag_stack: Stack, terminal: Terminal
) -> None:
    first = sparkctl(graphrag_stack, "chat", "--session", "cli-resumed", "-w", "chat-team", "-m", "earlier question")
    assert first.exit_code == 0, first.output
    wait_for_stored_messages(graphrag_stack, "cli-resumed", "chat-team", 2)

    repl = terminal(
        "--session", "cli-resumed", "-w", "chat-team", "--model", "reasoning", prompt="reasoning@chat-team>"
    )
    assert "Resumed session cli-resumed: 2 messages" in repl.before

    send(repl, "/history")
    repl.expect_exact("earlier question")
    repl.expect_exact("echo: earlier question")
    repl.expect_exact("reasoning@chat-team>")

    send(repl, "/models")
    repl.expect(rf"\* reasoning\s*{STYLE}\s+reasoning")
    repl.expect_exact("reasoning@chat-team>")

    send(repl, "/workspace other")
    repl.expect_exact("Workspace: other, in a new session.")
    repl.expect_exact("reasoning@other>")
    send(repl, "/session")
    repl.expect_exact("No session yet: the first answer starts one.")
    repl.expect_exact("reasoning@other>")

    send(repl, "/help")
    repl.expect(rf"Esc Enter / Alt-Enter{STYLE}\s+new line")
    repl.expect_exact("reasoning@other>")

    send(repl, "/exit")
    repl.expect(pexpect.EOF)
    repl.close()
    assert repl.exitstatus == 0


def wait_for_stored_messages(stack: Stack, session: str, workspace: str, count: int) -> None:
    """The orchestrator stores a turn in PostgreSQL in the background: wait until it is there."""
    deadline = time.monotonic() + 15
    with OrchestratorClient(Endpoint(stack.orchestrator, "test"), stack.api_key) as client:
        while True:
            try:
                if len(client.session(session, workspace=workspace)["messages"]) >= count:
                    return
            except ApiRequestError as error:
                assert error.status == 404, error.message
            assert time.monotonic() < deadline, f"session {session} was not stored in time"
            time.sleep(0.1)


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_max_tokens_reaches_the_model(graphrag_stack: Stack, fake_llm: FakeLLM, stream: str) -> None:
    result = sparkctl(graphrag_stack, "chat", "-m", "hello there", "--max-tokens", "7", stream)

    assert result.exit_code == 0, result.output
    body = fake_llm.chat_requests()[-1].body
    assert body.get("max_tokens") == 7 or (body.get("options") or {}).get("num_predict") == 7, body
