"""sparkctl models: the catalog in models.toml, and pulling weights into the cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from sparkctl.cli.context import app_context
from sparkctl.cli.options import DryRun, ModelsFile, Yes, sub_app
from sparkctl.cli.render import print_json, stdout
from sparkctl.errors import NotAvailableYet

if TYPE_CHECKING:
    from sparkctl.catalog import Catalog

app = sub_app("List the models of models.toml and pull their weights.")


@app.command(name="list")
def list_models(ctx: typer.Context, models_file: ModelsFile = None) -> None:
    """Show every model with its memory and GPU share, against the platform's budget."""
    state = app_context(ctx)
    catalog = state.catalog(models_file)
    if state.json:
        print_json(catalog_document(catalog))
    else:
        _render_table(catalog)


@app.command()
def pull(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Models to pull, by name or role (default: all).")] = None,
    models_file: ModelsFile = None,
    dry_run: DryRun = False,
    yes: Yes = False,
) -> None:
    """Download model weights into their volumes in the cluster."""
    raise NotAvailableYet("sparkctl models pull")


def catalog_document(catalog: Catalog) -> dict[str, Any]:
    """The catalog as plain data, for --output json."""
    budget = catalog.budget()
    return {
        "catalog": catalog.path,
        "platform": catalog.platform.model_dump(),
        "models": [
            {
                **model.model_dump(),
                "pull_ref": model.pull_ref,
                "pvc": model.claim_name,
                "memory_bytes": int(model.memory_bytes),
            }
            for model in catalog
        ],
        "budget": {
            "models_memory_bytes": int(budget.models_memory),
            "services_memory_bytes": int(budget.services_memory),
            "system_reserved_bytes": int(budget.system_reserved),
            "total_memory_bytes": int(budget.total_memory),
            "unified_memory_bytes": int(budget.unified_memory),
            "memory_fits": budget.memory_fits,
            "gpu_slices": budget.gpu_slices,
            "gpu_slices_available": budget.gpu_slices_available,
            "gpu_fits": budget.gpu_fits,
        },
    }


def _render_table(catalog: Catalog) -> None:
    from rich.table import Table

    from sparkctl.quantity import format_bytes

    table = Table(title=f"Models ({catalog.path})", title_justify="left")
    for column in ("role", "name", "tag", "backend", "memory", "GPU slices", "size"):
        table.add_column(column, justify="right" if column in ("memory", "GPU slices", "size") else "left")
    for model in catalog:
        table.add_row(
            model.role, model.name, model.tag, model.backend, model.memory, str(model.gpu_slices), model.storage
        )
    console = stdout()
    console.print(table)
    budget = catalog.budget()
    memory_style = "green" if budget.memory_fits else "bold red"
    console.print(
        f"Memory: models {format_bytes(budget.models_memory)} + GraphRAG services "
        f"{format_bytes(budget.services_memory)} + system {format_bytes(budget.system_reserved)} = "
        f"[{memory_style}]{format_bytes(budget.total_memory)}[/] "
        f"of {format_bytes(budget.unified_memory)} unified memory"
    )
    gpu_style = "green" if budget.gpu_fits else "bold red"
    console.print(f"GPU: [{gpu_style}]{budget.gpu_slices}[/] of {budget.gpu_slices_available} time-slices")
    if not budget.memory_fits:
        console.print("  Lower some memory limits in models.toml, or serve fewer models at once.", style="dim")
