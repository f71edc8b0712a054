"""The chat's client-side state and the REPL's slash commands, without a server."""

from __future__ import annotations

import pytest

from sparkctl.chat_session import (
    COMMANDS,
    ChatCommandError,
    ChatSession,
    Command,
    MemoryReport,
    help_lines,
    memory_report,
    parse_input,
)
from sparkctl.client import ChatReply


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("", None),
        ("   \n ", None),
        ("hello", "hello"),
        ("  two\nlines  ", "two\nlines"),
        ("//etc/hosts?", "/etc/hosts?"),
        ("/model", Command("model")),
        ("/model qwen3-coder-next", Command("model", "qwen3-coder-next")),
        ("  /MODEL   coding  ", Command("model", "coding")),
        ("/models", Command("models")),
        ("/workspace team-a", Command("workspace", "team-a")),
        ("/session", Command("session")),
        ("/new", Command("new")),
        ("/history", Command("history")),
        ("/memory", Command("memory")),
        ("/help", Command("help")),
        ("/?", Command("help")),
        ("/exit", Command("exit")),
        ("/quit", Command("exit")),
    ],
)
def test_a_line_is_nothing_a_message_or_a_command(line: str, parsed: Command | str | None) -> None:
    assert parse_input(line) == parsed


def test_an_unknown_command_suggests_the_nearest_one() -> None:
    with pytest.raises(ChatCommandError) as caught:
        parse_input("/modle coding")
    assert caught.value.message == "unknown command /modle"
    assert caught.value.hint.startswith("Did you mean /model? ")


def test_an_unknown_command_with_nothing_near_points_at_help_and_the_escape() -> None:
    with pytest.raises(ChatCommandError) as caught:
        parse_input("/xyzzy")
    assert caught.value.hint == "/help lists the commands; start a message with // to send one that begins with /."


@pytest.mark.parametrize(
    ("line", "message"),
    [("/new now", "/new takes no argument"), ("/model a b", "/model takes one NAME, not 'a b'")],
)
def test_a_wrong_argument_is_an_error(line: str, message: str) -> None:
    with pytest.raises(ChatCommandError) as caught:
        parse_input(line)
    assert caught.value.message == message


def test_help_lists_every_command_with_its_argument() -> None:
    usages = [usage for usage, _ in help_lines()]
    assert usages == [
        "/model [NAME]",
        "/models",
        "/workspace [NAME]",
        "/session",
        "/new",
        "/history",
        "/memory",
        "/help",
        "/exit",
    ]
    assert len(usages) == len(COMMANDS)


def reply(content: str = "answer", session: str | None = "s-1", **headers: str) -> ChatReply:
    return ChatReply(content=content, session_id=session, **headers)


def test_only_the_new_message_is_sent_the_session_carries_the_rest() -> None:
    chat = ChatSession()
    chat.record("first", reply("one"))
    assert chat.request("second") == [{"role": "user", "content": "second"}]


def test_a_recorded_turn_adopts_the_session_and_is_kept_in_history() -> None:
    chat = ChatSession(model="coding")
    answer = reply("echo: hi", backend="coding:qwen3", memory="working=miss")
    chat.record("hi", answer)
    assert chat.session_id == "s-1"
    assert chat.history == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "echo: hi"}]
    assert chat.last is answer


def test_a_reply_without_a_session_header_keeps_the_current_session() -> None:
    chat = ChatSession(session_id="mine")
    chat.record("hi", reply(session=None))
    assert chat.session_id == "mine"


def test_a_cancelled_answer_keeps_its_session_but_no_history() -> None:
    chat = ChatSession()
    chat.note(reply("half an ans", session="s-9"))
    assert (chat.session_id, chat.history) == ("s-9", [])


def test_switching_model_keeps_the_session() -> None:
    chat = ChatSession(session_id="s-1")
    chat.switch_model("reasoning")
    assert (chat.model, chat.session_id) == ("reasoning", "s-1")


def test_switching_workspace_starts_a_new_session() -> None:
    chat = ChatSession()
    chat.record("hi", reply())
    chat.switch_workspace("team-b")
    assert (chat.workspace, chat.session_id, chat.history, chat.last) == ("team-b", None, [], None)


def test_switching_to_the_same_workspace_keeps_the_session() -> None:
    chat = ChatSession()
    chat.record("hi", reply())
    chat.switch_workspace("default")
    assert chat.session_id == "s-1"


@pytest.mark.parametrize("name", ["no spaces", "", "a/b", "x" * 65])
def test_an_invalid_workspace_name_is_refused_and_changes_nothing(name: str) -> None:
    chat = ChatSession(workspace="team-a")
    with pytest.raises(ChatCommandError):
        chat.switch_workspace(name)
    assert chat.workspace == "team-a"


def test_an_invalid_workspace_name_is_refused_at_the_start() -> None:
    with pytest.raises(ChatCommandError) as caught:
        ChatSession(workspace="no spaces")
    assert caught.value.message == "invalid workspace name 'no spaces'"


def test_new_forgets_the_session() -> None:
    chat = ChatSession(session_id="s-1")
    chat.new()
    assert chat.session_id is None


def test_resuming_takes_the_stored_conversation_without_system_messages() -> None:
    chat = ChatSession()
    chat.resume(
        {
            "id": "s-7",
            "workspace": "default",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "q", "created_at": "2026-01-01T00:00:00"},
                {"role": "assistant", "content": "a"},
            ],
        }
    )
    assert chat.session_id == "s-7"
    assert chat.history == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]


def test_memory_report_reads_the_tiers_and_backend_from_the_headers() -> None:
    answer = reply(backend="coding:qwen3-coder-next", memory="working=hit;recall=skip;archival=timeout")
    assert memory_report(answer) == MemoryReport(
        "coding:qwen3-coder-next", (("working", "hit"), ("recall", "skip"), ("archival", "timeout"))
    )


def test_memory_report_says_when_memory_is_off() -> None:
    assert memory_report(reply(memory="off")) == MemoryReport(None, (), off=True)


def test_memory_report_without_the_header_has_no_tiers() -> None:
    assert memory_report(reply()) == MemoryReport(None, ())
