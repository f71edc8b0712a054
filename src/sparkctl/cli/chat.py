"""sparkctl chat: talk to the memory-augmented orchestrator."""

from __future__ import annotations

from typing import Annotated

import typer

from sparkctl.cli.options import ApiKey, Endpoint, Workspace
from sparkctl.errors import NotAvailableYet


def chat(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", help="Model name, alias, role, or auto.")] = "auto",
    workspace: Workspace = "default",
    session: Annotated[str | None, typer.Option("--session", help="Continue this session.")] = None,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Answer one message and exit.")] = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Stream the answer as it comes.")] = True,
    endpoint: Endpoint = None,
    api_key: ApiKey = None,
) -> None:
    """Chat in a REPL, or answer one message with -m."""
    raise NotAvailableYet("sparkctl chat")
