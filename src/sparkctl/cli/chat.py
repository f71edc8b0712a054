"""sparkctl chat: talk to the memory-augmented orchestrator, in a REPL or one message at a time."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sparkctl.cli.context import app_context
from sparkctl.cli.options import ApiKey, Endpoint, Workspace
from sparkctl.cli.render import print_json, stderr
from sparkctl.errors import SparkctlError

if TYPE_CHECKING:
    from sparkctl.chat_session import ChatSession
    from sparkctl.client import ChatReply, OrchestratorClient


def chat(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", metavar="NAME", help="Model name, alias, role, or auto.")] = "auto",
    workspace: Workspace = "default",
    session: Annotated[str | None, typer.Option("--session", metavar="ID", help="Continue this session.")] = None,
    message: Annotated[
        str | None, typer.Option("--message", "-m", metavar="TEXT", help="Answer one message and exit.")
    ] = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Stream the answer as it comes.")] = True,
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", metavar="N", min=1, help="The longest answer, in tokens (default: the model's)."),
    ] = None,
    endpoint: Endpoint = None,
    api_key: ApiKey = None,
) -> None:
    """Chat in a REPL, or answer one message (-m, or piped on stdin) and exit.

    One message prints only the answer; with --output json, the whole response (the OpenAI ChatCompletion and a
    "sparkctl" object with the session id, backend and memory tiers).
    """
    from sparkctl.chat_session import ChatSession

    state = app_context(ctx)
    conversation = ChatSession(model=model, workspace=workspace, session_id=session, max_tokens=max_tokens)
    text = message if message is not None else _piped()
    with state.client(endpoint, api_key) as client:
        if text is None:
            from sparkctl.cli.chat_repl import run_repl

            run_repl(client, conversation, stream=stream)
        elif state.json:
            print_json(_whole_response(client, conversation, text))
        else:
            reply = _answer(client, conversation, text, stream=stream)
            if state.verbose:
                stderr().print(f"session {reply.session_id}, backend {reply.backend}, memory {reply.memory}")


def _piped() -> str | None:
    """The message on stdin when it is not a terminal; None when the REPL should run."""
    if sys.stdin is None or sys.stdin.isatty():
        return None
    text = sys.stdin.read().rstrip()
    if not text.strip():
        raise SparkctlError("nothing to send: stdin was empty", hint="Pipe a message in, or give one with -m.")
    return text


def _answer(client: OrchestratorClient, conversation: ChatSession, text: str, *, stream: bool) -> ChatReply:
    """The answer on stdout and nothing else, written as it comes when streaming."""
    request = conversation.request(text)
    options = conversation.options()
    if not stream:
        reply = client.chat(request, **options)
        sys.stdout.write(reply.content + "\n")
        return reply
    with client.stream_chat(request, **options) as answer:
        try:
            for piece in answer:
                sys.stdout.write(piece)
                sys.stdout.flush()
        finally:
            if answer.reply.content:
                sys.stdout.write("\n")
    return answer.reply


def _whole_response(client: OrchestratorClient, conversation: ChatSession, text: str) -> dict[str, Any]:
    reply = client.chat(conversation.request(text), **conversation.options())
    extra = {
        "session_id": reply.session_id,
        "workspace": conversation.workspace,
        "backend": reply.backend,
        "memory": reply.memory,
    }
    return {**(reply.completion or {}), "sparkctl": extra}
