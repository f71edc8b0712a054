"""sparkctl cluster: single-node Kubernetes on the Spark with kubeadm."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sparkctl.cli.context import AppContext, app_context
from sparkctl.cli.options import DryRun, ModelsFile, Yes, sub_app
from sparkctl.cli.plans import PlanRun, RunLog, plan_and_apply
from sparkctl.cli.render import escape, print_json, stdout

if TYPE_CHECKING:
    from sparkctl.cluster.plan import Plan

app = sub_app("Bootstrap and inspect the Kubernetes cluster on the Spark.")


@app.command()
def up(
    ctx: typer.Context,
    dry_run: DryRun = False,
    yes: Yes = False,
    gpu_slices: Annotated[
        int | None,
        typer.Option("--gpu-slices", metavar="N", min=1, help="Time-sliced GPUs to advertise (default: models.toml)."),
    ] = None,
    from_step: Annotated[
        str | None,
        typer.Option(
            "--from", metavar="STEP", help="Start at this step (number or name); earlier steps are not checked."
        ),
    ] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Reset an existing cluster and create it again (asks first).")
    ] = False,
    min_free_disk: Annotated[
        int, typer.Option("--min-free-disk", metavar="GIB", min=1, help="GiB needed under /var/lib.")
    ] = 100,
    models_file: ModelsFile = None,
) -> None:
    """Install Kubernetes (kubeadm, containerd with the NVIDIA runtime, Flannel, Helm,
    GPU Operator with time-slicing, Longhorn) and check that the GPU is shared."""
    from sparkctl.cluster.plan import select
    from sparkctl.cluster.session import ClusterSession
    from sparkctl.cluster.settings import cluster_settings
    from sparkctl.cluster.steps import cluster_steps

    state = app_context(ctx)
    settings = cluster_settings(
        state.catalog(models_file),
        host_spec=state.host_spec or state.config.host,
        kubeconfig=state.kubeconfig,
        gpu_slices=gpu_slices,
        min_free_disk_gib=min_free_disk,
        reset=reset,
    )
    log = RunLog("cluster up")
    with ClusterSession(state.open_host(), settings, on_output=log.write) as session:
        host = session.host.name

        def confirm(plan: Plan) -> None:
            if reset and any(
                "kubeadm reset" in action.render() for planned in plan.to_do for action in planned.actions
            ):
                typer.confirm(
                    f"--reset resets the cluster on {host}: its workloads, Secrets and etcd data are lost "
                    "(Longhorn's data under /var/lib/longhorn stays). Go on?",
                    abort=True,
                    err=True,
                )
            typer.confirm(f"Apply these {len(plan.to_do)} steps on {host}?", abort=True, err=True)

        plan_and_apply(
            state,
            PlanRun("cluster up", host, select(cluster_steps(settings), from_step), session.facts, session.target, log),
            dry_run=dry_run,
            confirm=None if yes else confirm,
            finished="[green]The cluster is up.[/] sparkctl cluster status shows it.",
        )


@app.command()
def status(ctx: typer.Context) -> None:
    """Show the cluster's nodes, GPU slices, storage and system pods."""
    from sparkctl.cluster.status import cluster_status

    state = app_context(ctx)
    report = cluster_status(state.catalog(), state.host_spec or state.config.host, state.kubeconfig)
    if state.json:
        print_json(report)
        return
    _render_status(report)


def _render_status(report: dict[str, Any]) -> None:
    from rich.table import Table

    console = stdout()
    console.print(f"Kubernetes {report['server_version']} at {escape(report['server'])}")
    nodes = Table(title="Nodes", title_justify="left")
    for column in ("node", "ready", "kubelet", "GPU slices", "taints"):
        nodes.add_column(column)
    for node in report["nodes"]:
        ready = "[green]yes[/]" if node["ready"] else f"[red]no[/] {escape(node['reason'])}"
        gpus = f"{node['gpus']} of {report['gpu_slices']}"
        nodes.add_row(node["name"], ready, node["kubelet_version"], gpus, ", ".join(node["taints"]) or "-")
    console.print(nodes)
    classes = ", ".join(
        f"{item['name']} ({item['reclaim_policy']}{', default' if item['is_default'] else ''})"
        for item in report["storage_classes"]
    )
    console.print(f"Storage classes: {classes or 'none'}")
    releases = ", ".join(f"{item['name']} {item['chart_version']} ({item['status']})" for item in report["releases"])
    console.print(f"Helm releases: {releases or 'none'}")
    if report["pods_not_ready"]:
        console.print("[yellow]Pods not ready:[/]")
        for pod in report["pods_not_ready"]:
            console.print(f"  {pod['namespace']}/{pod['name']}: {pod['phase']} {escape(pod['reason'])}")
    else:
        console.print("[green]All pods ready.[/]")


@app.command()
def down(
    ctx: typer.Context,
    dry_run: DryRun = False,
    yes: Yes = False,
    purge: Annotated[
        bool, typer.Option("--purge", help="Also uninstall Longhorn and delete its data, model weights included.")
    ] = False,
    models_file: ModelsFile = None,
) -> None:
    """Remove the Kubernetes cluster: releases, kubeadm's state, kubeconfigs, packages.
    containerd, the NVIDIA runtime and Longhorn's data stay (unless --purge)."""
    cluster_down(app_context(ctx), purge=purge, dry_run=dry_run, yes=yes, models_file=models_file)


def cluster_down(
    state: AppContext,
    *,
    purge: bool,
    dry_run: bool,
    yes: bool,
    models_file: Path | None = None,
    report: list[dict[str, Any]] | None = None,
) -> None:
    """The plan of `cluster down`, confirmed (twice with --purge) and applied; also the end of `teardown cluster`."""
    from sparkctl.cluster.session import ClusterSession
    from sparkctl.cluster.settings import cluster_settings
    from sparkctl.cluster.steps import teardown_steps
    from sparkctl.cluster.steps.teardown import LONGHORN_DATA

    settings = cluster_settings(
        state.catalog(models_file),
        host_spec=state.host_spec or state.config.host,
        kubeconfig=state.kubeconfig,
        purge=purge,
    )
    log = RunLog("cluster down")
    with ClusterSession(state.open_host(), settings, on_output=log.write) as session:
        host = session.host.name

        def confirm(plan: Plan) -> None:
            typer.confirm(
                f"Remove the Kubernetes cluster on {host}? Its workloads, Secrets and etcd data are lost; "
                f"containerd and the NVIDIA runtime stay"
                + ("." if purge else f", and so does Longhorn's data under {LONGHORN_DATA}."),
                abort=True,
                err=True,
            )
            if purge:
                typer.confirm(
                    f"--purge also uninstalls Longhorn and deletes {LONGHORN_DATA} on {host}: every volume, "
                    "model weights included, is lost for good. Go on?",
                    abort=True,
                    err=True,
                )

        plan_and_apply(
            state,
            PlanRun("cluster down", host, teardown_steps(settings), session.facts, session.target, log),
            dry_run=dry_run,
            confirm=None if yes else confirm,
            finished="[green]The cluster is gone.[/] `sparkctl cluster up` makes it again.",
            report=report,
        )


@app.command()
def join(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="[user@]HOST[:PORT] of the machine to join as a worker.")],
    dry_run: DryRun = False,
    yes: Yes = False,
    min_free_disk: Annotated[
        int, typer.Option("--min-free-disk", metavar="GIB", min=1, help="GiB needed under /var/lib.")
    ] = 100,
    models_file: ModelsFile = None,
) -> None:
    """Join another machine (a second Spark) to the cluster as a worker: its prerequisites,
    kubeadm join with a short-lived token, and its GPU advertised as time-sliced GPUs."""
    from sparkctl.cluster.session import ClusterSession
    from sparkctl.cluster.settings import cluster_settings
    from sparkctl.cluster.steps import join_steps

    state = app_context(ctx)
    settings = cluster_settings(
        state.catalog(models_file),
        host_spec=state.host_spec or state.config.host,
        kubeconfig=state.kubeconfig,
        min_free_disk_gib=min_free_disk,
    )
    log = RunLog("cluster join")
    with ClusterSession(state.open_host(), settings) as control_plane:
        worker = state.open_host(node)
        facts, target = control_plane.worker(worker, on_output=log.write)

        def confirm(plan: Plan) -> None:
            typer.confirm(
                f"Apply these {len(plan.to_do)} steps on {worker.name} and join it to the cluster on "
                f"{control_plane.host.name}?",
                abort=True,
                err=True,
            )

        plan_and_apply(
            state,
            PlanRun("cluster join", worker.name, join_steps(settings, control_plane.host), facts, target, log),
            dry_run=dry_run,
            confirm=None if yes else confirm,
            finished=f"[green]{escape(worker.name)} is a node of the cluster.[/] sparkctl cluster status shows it.",
        )
