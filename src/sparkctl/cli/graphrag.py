"""sparkctl graphrag: the GraphRAG stack in the cluster."""

from __future__ import annotations

import typer

from sparkctl.cli.options import DryRun, ModelsFile, Yes
from sparkctl.errors import NotAvailableYet

app = typer.Typer(help="Deploy and inspect the GraphRAG stack in the cluster.", no_args_is_help=True)


@app.command()
def deploy(ctx: typer.Context, models_file: ModelsFile = None, dry_run: DryRun = False, yes: Yes = False) -> None:
    """Build the service images and install the graphrag chart."""
    raise NotAvailableYet("sparkctl graphrag deploy")


@app.command()
def status(ctx: typer.Context) -> None:
    """Show the GraphRAG services and their health."""
    raise NotAvailableYet("sparkctl graphrag status")


@app.command()
def remove(ctx: typer.Context, dry_run: DryRun = False, yes: Yes = False) -> None:
    """Uninstall the graphrag release; its data volumes stay."""
    raise NotAvailableYet("sparkctl graphrag remove")
