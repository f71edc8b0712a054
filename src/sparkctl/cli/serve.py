"""sparkctl serve: the models of models.toml behind KServe or plain Deployments."""

from __future__ import annotations

from typing import Annotated

import typer

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
) -> None:
    """Install cert-manager and KServe, then the llm-serving chart for the catalog's models."""
    raise NotAvailableYet("sparkctl serve deploy")


@app.command()
def status(ctx: typer.Context, models_file: ModelsFile = None) -> None:
    """Show each served model: ready replicas, endpoint, GPU slice."""
    raise NotAvailableYet("sparkctl serve status")


@app.command()
def remove(ctx: typer.Context, dry_run: DryRun = False, yes: Yes = False) -> None:
    """Uninstall the llm-serving release; model weights stay in their volumes."""
    raise NotAvailableYet("sparkctl serve remove")
