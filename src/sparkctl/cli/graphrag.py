"""sparkctl graphrag: the GraphRAG stack in the cluster."""

from __future__ import annotations

import typer

from sparkctl.cli.options import DryRun, ModelsFile, Yes, sub_app
from sparkctl.errors import NotAvailableYet

app = sub_app("Deploy and inspect the GraphRAG stack in the cluster.")


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
