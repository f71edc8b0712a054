"""sparkctl local: the GraphRAG stack as local processes with embedded servers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sparkctl.cli.options import Yes, sub_app
from sparkctl.errors import NotAvailableYet

app = sub_app("Run the GraphRAG stack on this machine, no cluster needed.")


@app.command()
def up(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where data lives (default ~/.local/share/sparkctl/local).")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Orchestrator port.")] = 8100,
    llm_url: Annotated[
        str, typer.Option("--llm-url", help="Ollama, or an OpenAI-compatible /v1 base URL.")
    ] = "http://127.0.0.1:11434",
    embedder: Annotated[
        str, typer.Option("--embedder", help="llm (the embed model) or hash (offline, lower quality).")
    ] = "llm",
    api_key: Annotated[str | None, typer.Option("--api-key", help="Require this API key.")] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Return once ready; run in the background.")] = False,
) -> None:
    """Start PostgreSQL, Redis, NATS and the GraphRAG services."""
    raise NotAvailableYet("sparkctl local up")


@app.command()
def down(
    ctx: typer.Context,
    purge: Annotated[bool, typer.Option("--purge", help="Also delete the data directory.")] = False,
    yes: Yes = False,
) -> None:
    """Stop the local stack; data stays unless --purge."""
    raise NotAvailableYet("sparkctl local down")


@app.command()
def status(ctx: typer.Context) -> None:
    """Show the local services: state, port, pid, health."""
    raise NotAvailableYet("sparkctl local status")


@app.command()
def logs(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Argument(help="One service (default: all).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
) -> None:
    """Print the local services' logs."""
    raise NotAvailableYet("sparkctl local logs")
