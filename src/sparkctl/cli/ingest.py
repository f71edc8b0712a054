"""sparkctl ingest: send a codebase or documents to the GraphRAG stack and follow the job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sparkctl.cli.options import ApiKey, Endpoint, Workspace
from sparkctl.errors import NotAvailableYet


def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Directories (codebases) or files (PDF, Markdown, text, code).")],
    workspace: Workspace = "default",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the job until it ends.")] = True,
    include: Annotated[list[str] | None, typer.Option("--include", help="Only files matching this glob.")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Skip files matching this glob.")] = None,
    endpoint: Endpoint = None,
    api_key: ApiKey = None,
) -> None:
    """Add a codebase or documents to a workspace's graph."""
    raise NotAvailableYet("sparkctl ingest")
