"""A chat as the client holds it: model, workspace, session id, what the last answer drew from and the turns said
here; and the REPL's slash commands, parsed without side effects.

Only the new message is sent with each request: the session id carries the conversation, and the orchestrator's
working memory gives the model the earlier turns (so `--session ID` continues a conversation from anywhere).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from sparkctl.client import ChatReply
from sparkctl.errors import SparkctlError

WORKSPACE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TIER_MEANINGS = {
    "hit": "found something and it was used",
    "miss": "asked, nothing relevant",
    "skip": "not asked",
    "timeout": "over its time budget, left out",
    "down": "unreachable, left out",
}


class ChatCommandError(SparkctlError):
    """A slash command that does not exist, or with a wrong argument."""


@dataclass(frozen=True)
class CommandSpec:
    name: str
    argument: str | None
    summary: str


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("model", "[NAME]", "switch to a model, role or alias (alone: show the current one)"),
    CommandSpec("models", None, "list what the orchestrator can route to"),
    CommandSpec("workspace", "[NAME]", "switch workspace, in a new session (alone: show the current one)"),
    CommandSpec("session", None, "show this session's id"),
    CommandSpec("new", None, "start a new session"),
    CommandSpec("history", None, "show this session's messages"),
    CommandSpec("memory", None, "what the last answer drew from: memory tiers and backend"),
    CommandSpec("help", None, "this help"),
    CommandSpec("exit", None, "leave (also Ctrl-D)"),
)
_SPECS = {spec.name: spec for spec in COMMANDS}
_ALIASES = {"quit": "exit", "q": "exit", "?": "help"}


@dataclass(frozen=True)
class Command:
    name: str
    argument: str | None = None


def parse_input(text: str) -> Command | str | None:
    """What a line of input is: None (blank), a Command (`/name [argument]`), or a message to send.

    A message that must start with "/" is typed with "//": `//etc/hosts?` sends "/etc/hosts?".
    """
    stripped = text.strip()
    if not stripped:
        return None
    if stripped.startswith("//"):
        return stripped[1:]
    if not stripped.startswith("/"):
        return stripped
    word, _, rest = stripped[1:].partition(" ")
    name = _ALIASES.get(word.lower(), word.lower())
    spec = _SPECS.get(name)
    if spec is None:
        raise ChatCommandError(f"unknown command /{word}", hint=_suggestion(word))
    argument = rest.strip() or None
    if argument is not None and spec.argument is None:
        raise ChatCommandError(f"/{name} takes no argument", hint="/help lists the commands.")
    if argument is not None and len(argument.split()) > 1:
        noun = (spec.argument or "").strip("[]")
        raise ChatCommandError(f"/{name} takes one {noun}, not {argument!r}", hint="/help lists the commands.")
    return Command(name, argument)


def _suggestion(word: str) -> str:
    close = difflib.get_close_matches(word.lower(), list(_SPECS), n=1)
    lead = f"Did you mean /{close[0]}? " if close else ""
    return lead + "/help lists the commands; start a message with // to send one that begins with /."


def help_lines() -> list[tuple[str, str]]:
    """(usage, what it does) for every command."""
    return [(f"/{spec.name}" + (f" {spec.argument}" if spec.argument else ""), spec.summary) for spec in COMMANDS]


@dataclass(frozen=True)
class MemoryReport:
    """What an answer drew from, from the X-Sparkctl-Memory and X-Sparkctl-Backend headers."""

    backend: str | None
    tiers: tuple[tuple[str, str], ...]
    off: bool = False


def memory_report(reply: ChatReply) -> MemoryReport:
    header = (reply.memory or "").strip()
    if header == "off":
        return MemoryReport(reply.backend, (), off=True)
    tiers = []
    for item in header.split(";"):
        tier, _, status = item.partition("=")
        if tier.strip():
            tiers.append((tier.strip(), status.strip()))
    return MemoryReport(reply.backend, tuple(tiers))


@dataclass
class ChatSession:
    """The state a REPL or a one-shot answer works with; changed only through its methods."""

    model: str = "auto"
    workspace: str = "default"
    session_id: str | None = None
    max_tokens: int | None = None
    """The longest answer asked for; None leaves it to the model server."""
    history: list[dict[str, str]] = field(default_factory=list)
    last: ChatReply | None = None

    def __post_init__(self) -> None:
        check_workspace_name(self.workspace)

    def options(self) -> dict[str, Any]:
        """What the client sends with each message of this conversation."""
        return {
            "model": self.model,
            "workspace": self.workspace,
            "session_id": self.session_id,
            "max_tokens": self.max_tokens,
        }

    def request(self, text: str) -> list[dict[str, Any]]:
        """The messages to send for `text`."""
        return [{"role": "user", "content": text}]

    def record(self, text: str, reply: ChatReply) -> None:
        """A completed turn: keep it, and the session the orchestrator put it in."""
        self.note(reply)
        self.history += [{"role": "user", "content": text}, {"role": "assistant", "content": reply.content}]

    def note(self, reply: ChatReply) -> None:
        """An answer that started, even if it did not end: stay in its session, and know what it drew from."""
        self.session_id = reply.session_id or self.session_id
        self.last = reply

    def switch_model(self, name: str) -> None:
        self.model = name

    def switch_workspace(self, name: str) -> None:
        """Sessions belong to a workspace: another workspace starts a new one."""
        check_workspace_name(name)
        if name != self.workspace:
            self.workspace = name
            self.new()

    def new(self) -> None:
        self.session_id = None
        self.history = []
        self.last = None

    def resume(self, stored: dict[str, Any]) -> None:
        """Continue a session the orchestrator keeps (GET /v1/sessions/{id}), with its messages as history."""
        self.session_id = str(stored["id"])
        self.history = [
            {"role": str(message["role"]), "content": str(message.get("content") or "")}
            for message in stored.get("messages") or []
            if message.get("role") in ("user", "assistant")
        ]


def check_model(name: str, models: list[dict[str, Any]]) -> None:
    """ChatCommandError unless the orchestrator routes `name` (its /v1/models ids), with the closest one."""
    known = [str(entry["id"]) for entry in models]
    if name in known:
        return
    close = difflib.get_close_matches(name, known, n=1)
    lead = f"Did you mean {close[0]}? " if close else ""
    raise ChatCommandError(f"the orchestrator knows no model named {name!r}", hint=lead + "/models lists them.")


def workspace_notice(name: str, *, jobs: list[dict[str, Any]], sessions: list[dict[str, Any]]) -> str | None:
    """What to tell someone who switches to a workspace with nothing in it yet (a name mistyped, most often)."""
    if jobs or sessions:
        return None
    return (
        f"Workspace {name} has no ingested sources and no sessions yet, so answers draw on nothing of it; "
        f"`sparkctl ingest -w {name} PATH` adds some."
    )


def check_workspace_name(name: str) -> None:
    if not WORKSPACE_NAME.match(name):
        raise ChatCommandError(f"invalid workspace name {name!r}", hint="Use 1 to 64 letters, digits, '-' or '_'.")
