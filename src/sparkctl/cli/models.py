"""sparkctl models: the catalog in models.toml, and pulling weights into the cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from sparkctl.cli.context import app_context
from sparkctl.cli.options import DryRun, ModelsFile, Yes, sub_app
from sparkctl.cli.render import escape, print_json, stdout

if TYPE_CHECKING:
    from sparkctl.catalog import Catalog, Model
    from sparkctl.cli.context import AppContext
    from sparkctl.deploy.pull import PullTarget
    from sparkctl.kube import JobOutcome, Kube

app = sub_app("List the models of models.toml and pull their weights.")


@app.command(name="list")
def list_models(ctx: typer.Context, models_file: ModelsFile = None) -> None:
    """Show every model with its memory and GPU share, against the platform's budget."""
    state = app_context(ctx)
    catalog = state.catalog(models_file)
    pulled = _pull_states(state, catalog)
    if state.json:
        document = catalog_document(catalog)
        if pulled is not None:
            for entry in document["models"]:
                entry["status"] = pulled[entry["name"]]
        print_json(document)
    else:
        _render_table(catalog, pulled)


def _pull_states(state: AppContext, catalog: Catalog) -> dict[str, str] | None:
    """Each model's weights in the cluster (pulled, missing, pulling), when a cluster answers within seconds."""
    from sparkctl.cluster.kubeconfig import local_kubeconfig_path, open_cluster
    from sparkctl.deploy.pull import pull_state
    from sparkctl.errors import SparkctlError

    host = state.host_spec or state.config.host
    if not local_kubeconfig_path(host, state.kubeconfig).is_file():
        return None
    try:
        with open_cluster(host, state.kubeconfig, timeout=3) as kube:
            return {model.name: pull_state(kube, model).state for model in catalog}
    except SparkctlError:
        return None


@app.command()
def pull(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(metavar="MODEL", help="Models to pull, by name or role (default: all).")
    ] = None,
    models_file: ModelsFile = None,
    dry_run: DryRun = False,
    yes: Yes = False,
) -> None:
    """Download model weights into their volumes in the cluster, one Job per model; models already pulled
    are skipped."""
    from sparkctl.cluster.kubeconfig import open_cluster
    from sparkctl.deploy.pull import pull_state, select_models

    state = app_context(ctx)
    catalog = state.catalog(models_file)
    models = select_models(catalog, names)
    with open_cluster(state.host_spec or state.config.host, state.kubeconfig) as kube:
        targets = [pull_state(kube, model) for model in models]
        to_pull = [target for target in targets if target.state != "pulled"]
        if state.json and (dry_run or not to_pull):
            print_json({"dry_run": dry_run, "models": [_target_document(target) for target in targets]})
            return
        if not state.json:
            _render_pull_plan(targets)
        if dry_run or not to_pull:
            return
        if not yes:
            typer.confirm(f"Pull {len(to_pull)} model(s) into the cluster?", abort=True, err=True)
        results = []
        for target in to_pull:
            outcome = _pull_with_progress(state, kube, target.model)
            results.append({"model": target.model.name, "succeeded": outcome.succeeded, "reason": outcome.reason})
            if not outcome.succeeded:
                _fail_pull(state, target.model.name, outcome)
    if state.json:
        print_json({"dry_run": False, "pulled": results})


def _pull_with_progress(state: AppContext, kube: Kube, model: Model) -> JobOutcome:
    from sparkctl.deploy.pull import clean_line, pull_model

    if state.json:
        return pull_model(kube, model)
    console = stdout()
    with console.status(f"Pulling {model.pull_ref} into {model.claim_name}…") as status:

        def on_line(line: str) -> None:
            if text := clean_line(line):
                status.update(f"Pulling {model.pull_ref}: {escape(text)}")

        outcome = pull_model(kube, model, on_line=on_line)
    if outcome.succeeded:
        console.print(f"[green]✓[/] {model.name}: {model.pull_ref} in {model.namespace}/{model.claim_name}")
    return outcome


def _fail_pull(state: AppContext, name: str, outcome: JobOutcome) -> None:
    from sparkctl.deploy.pull import clean_line
    from sparkctl.errors import SparkctlError

    if not state.json:
        console = stdout()
        console.print(f"[red]✗[/] {name}: the last lines of its Job:")
        for line in outcome.tail[-10:]:
            console.print(f"    {escape(clean_line(line))}", highlight=False)
    raise SparkctlError(
        f"pulling {name} failed: {outcome.reason}",
        hint="Check the model's ref and tag in models.toml and the cluster's access to the registry, then run "
        "`sparkctl models pull` again: models already pulled are skipped.",
    )


def _target_document(target: PullTarget) -> dict[str, Any]:
    model = target.model
    return {
        "model": model.name,
        "ref": model.pull_ref,
        "namespace": model.namespace,
        "claim": model.claim_name,
        "state": target.state,
        "reason": target.reason,
    }


def _render_pull_plan(targets: list[PullTarget]) -> None:
    from rich.table import Table

    table = Table(title="models pull", title_justify="left")
    for column in ("model", "ref", "volume", "state", "why"):
        table.add_column(column)
    styles = {"pulled": "green", "missing": "yellow", "pulling": "cyan"}
    for target in targets:
        model = target.model
        table.add_row(
            model.name,
            model.pull_ref,
            f"{model.namespace}/{model.claim_name} ({model.storage})",
            f"[{styles[target.state]}]{target.state}[/]",
            escape(target.reason),
        )
    stdout().print(table)


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


def _render_table(catalog: Catalog, pulled: dict[str, str] | None) -> None:
    from rich.table import Table

    from sparkctl.quantity import format_bytes

    table = Table(title=f"Models ({catalog.path})", title_justify="left")
    columns = ["role", "name", "tag", "backend", "memory", "GPU slices", "size"] + (["status"] if pulled else [])
    for column in columns:
        table.add_column(column, justify="right" if column in ("memory", "GPU slices", "size") else "left")
    for model in catalog:
        row = [model.role, model.name, model.tag, model.backend, model.memory, str(model.gpu_slices), model.storage]
        table.add_row(*row, *([pulled[model.name]] if pulled else []))
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
