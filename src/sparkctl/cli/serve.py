"""sparkctl serve: the models of models.toml behind KServe or plain Deployments."""

from __future__ import annotations

from typing import Annotated

import typer

from sparkctl.cli.context import OutputFormat, app_context
from sparkctl.cli.deploying import Force, enforce_budget, print_dry_run
from sparkctl.cli.options import DryRun, ModelsFile, Yes, sub_app
from sparkctl.errors import NotAvailableYet

app = sub_app("Serve the models (Ollama through KServe, or vLLM).")


@app.command()
def deploy(
    ctx: typer.Context,
    model: Annotated[list[str] | None, typer.Option("--model", help="Only these models (name or role).")] = None,
    plain: Annotated[bool, typer.Option("--plain", help="Plain Deployments and Services instead of KServe.")] = False,
    models_file: ModelsFile = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    force: Force = False,
) -> None:
    """Install cert-manager and KServe, then the llm-serving chart for the catalog's models.
    With --dry-run --output yaml, every manifest is rendered offline."""
    from sparkctl.deploy.releases import serving_release

    state = app_context(ctx)
    catalog = state.catalog(models_file)
    release = serving_release(catalog, mode="plain" if plain else "kserve", models=model)
    enforce_budget(state, catalog, force=force)
    if dry_run or state.output is OutputFormat.yaml:
        print_dry_run(state, release, dry_run=dry_run)
        return
    raise NotAvailableYet("sparkctl serve deploy (without --dry-run)")


@app.command()
def status(ctx: typer.Context, models_file: ModelsFile = None) -> None:
    """Show each served model: ready replicas, endpoint, GPU slice."""
    raise NotAvailableYet("sparkctl serve status")


@app.command()
def remove(ctx: typer.Context, dry_run: DryRun = False, yes: Yes = False) -> None:
    """Uninstall the llm-serving release; model weights stay in their volumes."""
    raise NotAvailableYet("sparkctl serve remove")
