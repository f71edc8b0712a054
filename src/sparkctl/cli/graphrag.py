"""sparkctl graphrag: the GraphRAG stack in the cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from sparkctl.cli.context import AppContext, OutputFormat, app_context
from sparkctl.cli.deploying import Force, enforce_budget, print_manifests, remove_release
from sparkctl.cli.options import DryRun, ModelsFile, Yes, sub_app
from sparkctl.cli.plans import PlanRun, RunLog, plan_and_apply
from sparkctl.cli.render import escape, print_json, stdout

if TYPE_CHECKING:
    from sparkctl.catalog import Catalog
    from sparkctl.cluster.plan import Plan

app = sub_app("Deploy and inspect the GraphRAG stack in the cluster.")


@app.command()
def deploy(
    ctx: typer.Context,
    models_file: ModelsFile = None,
    build: Annotated[
        bool, typer.Option("--build", help="Build the services' image on the Spark first (buildah, from a wheelhouse).")
    ] = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    force: Force = False,
) -> None:
    """Install the graphrag chart: its model servers, stores and services, with credentials generated once,
    and wait until every pod is ready. With --dry-run --output yaml, every manifest is rendered offline."""
    from sparkctl.deploy.releases import graphrag_release
    from sparkctl.deploy.session import DeploySession
    from sparkctl.deploy.steps import GraphragDeploy, graphrag_steps

    state = app_context(ctx)
    catalog = state.catalog(models_file)
    enforce_budget(state, catalog, force=force)
    if state.output is OutputFormat.yaml:
        print_manifests(graphrag_release(catalog), dry_run=dry_run)
        return
    if build:
        _build_image(state, catalog, dry_run=dry_run, yes=yes)
    log = RunLog("graphrag deploy")
    with DeploySession(state.host_spec or state.config.host, state.kubeconfig, on_output=log.write) as session:

        def confirm(plan: Plan) -> None:
            typer.confirm(f"Apply these {len(plan.to_do)} steps to the cluster?", abort=True, err=True)

        steps = graphrag_steps(GraphragDeploy(catalog), image_built=build)
        plan_and_apply(
            state,
            PlanRun("graphrag deploy", session.server, steps, session.facts, session.target, log),
            dry_run=dry_run,
            confirm=None if yes else confirm,
            finished="[green]The GraphRAG stack is up.[/] `sparkctl graphrag status` shows its endpoints.",
        )


def _build_image(state: AppContext, catalog: Catalog, *, dry_run: bool, yes: bool) -> None:
    """The image plan on the host (--host, or this machine): buildah, then the image in containerd's k8s.io."""
    from sparkctl.cluster.session import ClusterSession
    from sparkctl.cluster.settings import cluster_settings
    from sparkctl.deploy.build import ImageBuild, build_steps
    from sparkctl.deploy.image import project_root

    settings = cluster_settings(catalog, host_spec=state.host_spec or state.config.host, kubeconfig=state.kubeconfig)
    log = RunLog("graphrag build")
    with ClusterSession(state.open_host(), settings, on_output=log.write) as session:
        host = session.host.name

        def confirm(plan: Plan) -> None:
            typer.confirm(f"Build the services' image on {host}?", abort=True, err=True)

        steps = build_steps(ImageBuild(project_root()))
        plan_and_apply(
            state,
            PlanRun("graphrag deploy --build", host, steps, session.facts, session.target, log),
            dry_run=dry_run,
            confirm=None if yes else confirm,
            finished=f"[green]The services' image is on {escape(host)}.[/]",
        )


@app.command()
def status(ctx: typer.Context, models_file: ModelsFile = None) -> None:
    """Show the GraphRAG services and model servers: ready or not, their endpoints, where the API key is."""
    from sparkctl.cluster.kubeconfig import open_cluster
    from sparkctl.deploy.graphrag import graphrag_status

    state = app_context(ctx)
    catalog = state.catalog(models_file)
    with open_cluster(state.host_spec or state.config.host, state.kubeconfig) as kube:
        report = graphrag_status(kube, catalog)
    if state.json:
        print_json(report)
        return
    _render_status(report)


def _render_status(report: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="GraphRAG", title_justify="left")
    for column in ("part", "ready", "in the cluster", "on the host"):
        table.add_column(column)
    for part in report["parts"]:
        ready = "[green]yes[/]" if part["ready"] else f"[yellow]no[/] {escape(part['reason'])}"
        table.add_row(part["name"], ready, part["cluster_url"] or "-", part["host_url"] or "-")
    console = stdout()
    console.print(table)
    console.print(f"API key of the orchestrator: {escape(report['api_key'])}", highlight=False)


@app.command()
def remove(ctx: typer.Context, dry_run: DryRun = False, yes: Yes = False) -> None:
    """Uninstall the graphrag release; its data volumes and credentials stay."""
    from sparkctl.deploy.values import GRAPHRAG_NAMESPACE

    remove_release(
        app_context(ctx),
        "graphrag",
        GRAPHRAG_NAMESPACE,
        kept="Its volumes (Neo4j, PostgreSQL, Redis, NATS, model weights) and its credentials stay.",
        question="Stop the GraphRAG stack?",
        done="`sparkctl graphrag deploy` brings it back with its data.",
        dry_run=dry_run,
        yes=yes,
    )
