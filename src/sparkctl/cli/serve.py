"""sparkctl serve: the models of models.toml behind KServe or plain Deployments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from sparkctl.cli.context import OutputFormat, app_context
from sparkctl.cli.deploying import Force, enforce_budget, print_manifests, remove_release
from sparkctl.cli.options import DryRun, ModelsFile, Yes, sub_app
from sparkctl.cli.plans import PlanRun, RunLog, plan_and_apply
from sparkctl.cli.render import escape, print_json, stdout

if TYPE_CHECKING:
    from sparkctl.cluster.plan import Plan

app = sub_app("Serve the models (Ollama through KServe, or vLLM).")


@app.command()
def deploy(
    ctx: typer.Context,
    model: Annotated[
        list[str] | None, typer.Option("--model", metavar="NAME", help="Only these models (name or role).")
    ] = None,
    plain: Annotated[bool, typer.Option("--plain", help="Plain Deployments and Services instead of KServe.")] = False,
    models_file: ModelsFile = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    force: Force = False,
) -> None:
    """Install cert-manager and KServe, then the llm-serving chart for the catalog's models, and wait until
    every model server is ready. With --dry-run --output yaml, every manifest is rendered offline."""
    from sparkctl.deploy.session import DeploySession
    from sparkctl.deploy.steps import ServingDeploy, serving_steps

    state = app_context(ctx)
    catalog = state.catalog(models_file)
    serving = ServingDeploy(catalog, mode="plain" if plain else "kserve", names=tuple(model or ()))
    enforce_budget(state, catalog, force=force)
    if state.output is OutputFormat.yaml:
        from sparkctl.deploy.releases import KSERVE_VERSION

        print_manifests(serving.chart_release(KSERVE_VERSION), dry_run=dry_run)
        return
    log = RunLog("serve deploy")
    with DeploySession(state.host_spec or state.config.host, state.kubeconfig, on_output=log.write) as session:

        def confirm(plan: Plan) -> None:
            typer.confirm(f"Apply these {len(plan.to_do)} steps to the cluster?", abort=True, err=True)

        plan_and_apply(
            state,
            PlanRun("serve deploy", session.server, serving_steps(serving), session.facts, session.target, log),
            dry_run=dry_run,
            confirm=None if yes else confirm,
            finished="[green]Every model is served.[/] `sparkctl serve status` shows where.",
        )


@app.command()
def status(ctx: typer.Context, models_file: ModelsFile = None) -> None:
    """Show each served model: ready or not, its endpoints, its GPU slices."""
    from sparkctl.cluster.kubeconfig import open_cluster
    from sparkctl.deploy.serving import serving_status

    state = app_context(ctx)
    catalog = state.catalog(models_file)
    with open_cluster(state.host_spec or state.config.host, state.kubeconfig) as kube:
        report = serving_status(kube, catalog)
    if state.json:
        print_json(report)
        return
    _render_status(report)


def _render_status(report: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="Served models", title_justify="left")
    for column in ("model", "namespace", "ready", "in the cluster", "on the host", "GPU slices"):
        table.add_column(column)
    for model in report["models"]:
        ready = "[green]yes[/]" if model["ready"] else f"[yellow]no[/] {escape(model['reason'])}"
        table.add_row(
            model["name"],
            model["namespace"],
            ready,
            model["cluster_url"],
            model["host_url"] or "-",
            str(model["gpu_slices"]),
        )
    stdout().print(table)


@app.command()
def remove(ctx: typer.Context, dry_run: DryRun = False, yes: Yes = False) -> None:
    """Uninstall the llm-serving release; model weights stay in their volumes."""
    from sparkctl.deploy.values import SERVING_NAMESPACE

    remove_release(
        app_context(ctx),
        "llm-serving",
        SERVING_NAMESPACE,
        kept="The models' volumes, and the weights on them, stay.",
        question="Stop serving every model of llm-serving?",
        done="`sparkctl serve deploy` serves the weights again.",
        dry_run=dry_run,
        yes=yes,
    )
