"""sparkctl jobs: ingest jobs and their progress."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sparkctl.cli.context import app_context
from sparkctl.cli.options import ApiKey, Endpoint, sub_app
from sparkctl.cli.render import print_json, stdout

app = sub_app("List and inspect ingest jobs.")


@app.command(name="list")
def list_jobs(
    ctx: typer.Context,
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", metavar="NAME", help="Only this workspace.")
    ] = None,
    status: Annotated[str | None, typer.Option("--status", metavar="STATE", help="Only jobs in this state.")] = None,
    endpoint: Endpoint = None,
    api_key: ApiKey = None,
) -> None:
    """List ingest jobs, newest first."""
    state = app_context(ctx)
    with state.client(endpoint, api_key) as client:
        found = client.jobs(workspace=workspace, status=status)
    if state.json:
        print_json(found)
        return
    from rich.table import Table

    table = Table(title_justify="left")
    for column in ("id", "workspace", "kind", "source", "status", "files", "entities", "created"):
        table.add_column(column)
    for job in found:
        table.add_row(
            job["id"][:8],
            job["workspace"],
            job["kind"],
            job["source"],
            _status(job),
            f"{job['files_done'] + job['files_unchanged']}/{job['files_total']}",
            str(job["entities"]),
            job["created_at"][:19].replace("T", " "),
        )
    stdout().print(table if found else "No jobs.")


@app.command()
def show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job's id, or its start as `jobs list` shows it.", metavar="ID")],
    endpoint: Endpoint = None,
    api_key: ApiKey = None,
) -> None:
    """Show one job: state, counters, skipped files and errors."""
    state = app_context(ctx)
    with state.client(endpoint, api_key) as client:
        job = client.find_job(job_id)
    if state.json:
        print_json(job)
        return
    console = stdout()
    console.print(f"[bold]{job['id']}[/]  {job['kind']} {job['source']!r} in workspace {job['workspace']!r}")
    console.print(f"status     {_status(job)} (attempt {job['attempts']})")
    console.print(
        f"files      {job['files_done']} indexed, {job['files_unchanged']} unchanged, "
        f"{job['files_skipped']} skipped, {job['files_deleted']} deleted, of {job['files_total']}"
    )
    console.print(f"graph      {job['entities']} entities, {job['relations']} relations, {job['chunks']} chunks")
    for reason, count in sorted(job["skipped"].items()):
        console.print(f"skipped    {count} {reason}")
    if job["error"]:
        console.print(f"[red]error[/]      {job['error']}", highlight=False)


def _status(job: dict[str, Any]) -> str:
    colour = {"completed": "green", "failed": "red"}.get(job["status"], "yellow")
    return f"[{colour}]{job['status']}[/]"
