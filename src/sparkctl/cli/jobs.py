"""sparkctl jobs: ingest jobs and their progress."""

from __future__ import annotations

from typing import Annotated

import typer

from sparkctl.cli.options import ApiKey, Endpoint, sub_app
from sparkctl.errors import NotAvailableYet

app = sub_app("List and inspect ingest jobs.")


@app.command(name="list")
def list_jobs(
    ctx: typer.Context,
    workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="Only this workspace.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only jobs in this state.")] = None,
    endpoint: Endpoint = None,
    api_key: ApiKey = None,
) -> None:
    """List ingest jobs, newest first."""
    raise NotAvailableYet("sparkctl jobs list")


@app.command()
def show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    endpoint: Endpoint = None,
    api_key: ApiKey = None,
) -> None:
    """Show one job: state, counters, skipped files and errors."""
    raise NotAvailableYet("sparkctl jobs show")
