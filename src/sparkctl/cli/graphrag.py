"""sparkctl graphrag: the GraphRAG stack in the cluster."""

from __future__ import annotations

import typer

from sparkctl.cli.context import OutputFormat, app_context
from sparkctl.cli.deploying import Force, enforce_budget, print_dry_run
from sparkctl.cli.options import DryRun, ModelsFile, Yes, sub_app
from sparkctl.errors import NotAvailableYet

app = sub_app("Deploy and inspect the GraphRAG stack in the cluster.")


@app.command()
def deploy(
    ctx: typer.Context, models_file: ModelsFile = None, dry_run: DryRun = False, yes: Yes = False, force: Force = False
) -> None:
    """Build the service images and install the graphrag chart.
    With --dry-run --output yaml, every manifest is rendered offline."""
    from sparkctl.deploy.releases import graphrag_release

    state = app_context(ctx)
    catalog = state.catalog(models_file)
    release = graphrag_release(catalog)
    enforce_budget(state, catalog, force=force)
    if dry_run or state.output is OutputFormat.yaml:
        print_dry_run(state, release, dry_run=dry_run)
        return
    raise NotAvailableYet("sparkctl graphrag deploy (without --dry-run)")


@app.command()
def status(ctx: typer.Context) -> None:
    """Show the GraphRAG services and their health."""
    raise NotAvailableYet("sparkctl graphrag status")


@app.command()
def remove(ctx: typer.Context, dry_run: DryRun = False, yes: Yes = False) -> None:
    """Uninstall the graphrag release; its data volumes stay."""
    raise NotAvailableYet("sparkctl graphrag remove")
