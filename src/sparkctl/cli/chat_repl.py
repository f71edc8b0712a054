"""The chat REPL: prompt_toolkit reads (history file, multi-line input), rich writes (the answer as it streams,
then rendered as Markdown). Imported only by `sparkctl chat`, so prompt_toolkit never slows `sparkctl --help`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from sparkctl.chat_session import (
    TIER_MEANINGS,
    ChatSession,
    Command,
    check_model,
    check_workspace_name,
    help_lines,
    memory_report,
    parse_input,
    workspace_notice,
)
from sparkctl.client import ApiRequestError, ChatReply
from sparkctl.errors import SparkctlError
from sparkctl.paths import state_dir

if TYPE_CHECKING:
    from sparkctl.client import OrchestratorClient

KEYS_HELP = (
    ("Enter", "send"),
    ("Esc Enter / Alt-Enter", "new line"),
    ("Ctrl-C", "cancel the answer (or clear the line)"),
    ("Ctrl-D", "leave"),
)


def history_file() -> Path:
    return state_dir() / "chat-history"


def run_repl(client: OrchestratorClient, chat: ChatSession, *, stream: bool = True) -> None:
    """Read, answer, repeat until Ctrl-D or /exit. An error is one line and the REPL goes on."""
    Repl(client, chat, stream=stream, console=Console(highlight=False)).run()


class Repl:
    def __init__(self, client: OrchestratorClient, chat: ChatSession, *, stream: bool, console: Console) -> None:
        self.client = client
        self.chat = chat
        self.stream = stream
        self.console = console
        self._commands: dict[str, Callable[[str | None], None]] = {
            "model": self._model,
            "models": self._models,
            "workspace": self._workspace,
            "session": self._session,
            "new": self._new,
            "history": self._history,
            "memory": self._memory,
            "help": self._help,
        }

    def run(self) -> None:
        prompt = PromptSession[str](
            history=_history(),
            multiline=True,
            key_bindings=_keys(),
            prompt_continuation=lambda width, line, wrap: "." * (width - 1) + " ",
        )
        self._greet()
        while True:
            try:
                text = prompt.prompt(self._prompt)
            except KeyboardInterrupt:
                continue
            except EOFError:
                return
            if self._handle(text):
                return

    def _prompt(self) -> str:
        return f"{self.chat.model}@{self.chat.workspace}> "

    def _greet(self) -> None:
        model, workspace = escape(self.chat.model), escape(self.chat.workspace)
        self.console.print(
            f"sparkctl chat: model [bold]{model}[/], workspace [bold]{workspace}[/]. "
            "Enter sends, Esc Enter adds a line, Ctrl-C cancels an answer, Ctrl-D leaves; /help for more."
        )
        if self.chat.session_id:
            try:
                self._resume(self.chat.session_id)
            except SparkctlError as error:
                self._error(error)

    def _resume(self, session_id: str) -> None:
        try:
            stored = self.client.session(session_id, workspace=self.chat.workspace)
        except ApiRequestError as error:
            if error.status != 404:
                raise
            self.console.print(f"Session {escape(session_id)} is new.", style="dim")
            return
        self.chat.resume(stored)
        count = len(self.chat.history)
        self.console.print(
            f"Resumed session {escape(session_id)}: {count} messages (/history shows them).", style="dim"
        )

    def _handle(self, text: str) -> bool:
        """Answer a message or run a command; True when it is time to leave."""
        try:
            parsed = parse_input(text)
            if isinstance(parsed, Command):
                if parsed.name == "exit":
                    return True
                self._commands[parsed.name](parsed.argument)
            elif parsed is not None:
                self._ask(parsed)
        except SparkctlError as error:
            self._error(error)
        return False

    def _ask(self, text: str) -> None:
        try:
            reply = self._streamed(text) if self.stream else self._whole(text)
        except KeyboardInterrupt:
            self.console.print("(cancelled)", style="dim")
            return
        self.chat.record(text, reply)

    def _streamed(self, text: str) -> ChatReply:
        """Live text while it comes, replaced by the Markdown rendering once it has ended (or stopped)."""
        from rich.live import Live

        chat = self.chat
        pieces: list[str] = []
        try:
            with (
                Live(_Tail(pieces), console=self.console, transient=True, refresh_per_second=12),
                self.client.stream_chat(chat.request(text), **chat.options()) as answer,
            ):
                chat.note(answer.reply)
                for piece in answer:
                    pieces.append(piece)
        finally:
            if pieces:
                self.console.print(Markdown("".join(pieces)))
        return answer.reply

    def _whole(self, text: str) -> ChatReply:
        chat = self.chat
        with self.console.status("waiting for the answer"):
            reply = self.client.chat(chat.request(text), **chat.options())
        self.console.print(Markdown(reply.content))
        return reply

    def _error(self, error: SparkctlError) -> None:
        hint = f"  [dim]{escape(error.hint)}[/]" if error.hint else ""
        self.console.print(f"[bold red]Error:[/] {escape(error.message)}{hint}", soft_wrap=True)

    def _model(self, name: str | None) -> None:
        if name:
            check_model(name, self.client.models())
            self.chat.switch_model(name)
        self.console.print(f"Model: {escape(self.chat.model)}")

    def _models(self, _: str | None) -> None:
        table = Table("id", "role", "model", "backend", box=None, pad_edge=False)
        for entry in self.client.models():
            current = entry["id"] == self.chat.model
            table.add_row(
                Text(("* " if current else "  ") + entry["id"], style="bold" if current else ""),
                str(entry.get("role") or ""),
                str(entry.get("model") or ""),
                str(entry.get("backend") or ""),
            )
        self.console.print(table)

    def _workspace(self, name: str | None) -> None:
        if name and name != self.chat.workspace:
            check_workspace_name(name)
            jobs = self.client.jobs(workspace=name, limit=1)
            notice = workspace_notice(name, jobs=jobs, sessions=[] if jobs else self.client.sessions(workspace=name))
            self.chat.switch_workspace(name)
            self.console.print(f"Workspace: {escape(name)}, in a new session.")
            if notice:
                self.console.print(notice, style="yellow", highlight=False)
        else:
            self.console.print(f"Workspace: {escape(self.chat.workspace)}")

    def _session(self, _: str | None) -> None:
        if self.chat.session_id:
            self.console.print(f"Session: {escape(self.chat.session_id)}")
        else:
            self.console.print("No session yet: the first answer starts one.")

    def _new(self, _: str | None) -> None:
        self.chat.new()
        self.console.print("New session.")

    def _history(self, _: str | None) -> None:
        if not self.chat.history:
            self.console.print("No messages yet.")
        for message in self.chat.history:
            you = message["role"] == "user"
            self.console.print(Text("you" if you else "assistant", style="bold cyan" if you else "bold green"))
            self.console.print(Markdown(message["content"]) if not you else Text(message["content"]))

    def _memory(self, _: str | None) -> None:
        if self.chat.last is None:
            self.console.print("No answer yet.")
            return
        report = memory_report(self.chat.last)
        self.console.print(f"Backend: {escape(report.backend or 'not said')}")
        if report.off:
            self.console.print("Memory: off on this orchestrator.")
            return
        table = Table("tier", "status", "", box=None, pad_edge=False)
        for tier, status in report.tiers:
            table.add_row(tier, status, TIER_MEANINGS.get(status, ""))
        self.console.print(table if report.tiers else "Memory: not said.")

    def _help(self, _: str | None) -> None:
        table = Table(box=None, show_header=False, pad_edge=False)
        for usage, summary in help_lines():
            table.add_row(usage, summary)
        table.add_row("//text", "send a message that starts with /")
        for key, action in KEYS_HELP:
            table.add_row(key, action)
        self.console.print(table)


class _Tail:
    """The end of a text that is still growing (Live renders it a few times a second): as many wrapped lines as
    fit on the screen; a spinner until the first piece."""

    def __init__(self, pieces: list[str]) -> None:
        from rich.spinner import Spinner

        self.pieces = pieces
        self.waiting = Spinner("dots", Text("waiting for the answer", style="dim"))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.pieces:
            yield self.waiting
            return
        lines = Text("".join(self.pieces)).wrap(console, options.max_width)
        room = max((options.height or console.height) - 1, 1)
        yield Text("\n").join(lines[-room:])


def _keys() -> KeyBindings:
    keys = KeyBindings()

    @keys.add("enter")
    @keys.add("c-j")
    def _send(event: KeyPressEvent) -> None:
        event.current_buffer.validate_and_handle()

    @keys.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return keys


def _history() -> History:
    """Earlier inputs from the history file, or only this run's when the state folder cannot be written."""
    path = history_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError:
        return InMemoryHistory()
    return FileHistory(str(path))
