"""sparkctl cluster: single-node Kubernetes on the Spark with kubeadm."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sparkctl.cli.context import AppContext, app_context
from sparkctl.cli.options import DryRun, ModelsFile, Yes, sub_app
from sparkctl.cli.render import escape, print_json, stdout
from sparkctl.errors import SparkctlError

if TYPE_CHECKING:
    from sparkctl.cluster.actions import Target
    from sparkctl.cluster.facts import RefreshableFacts
    from sparkctl.cluster.plan import Plan
    from sparkctl.cluster.steps import Step

app = sub_app("Bootstrap and inspect the Kubernetes cluster on the Spark.")

_STATE_STYLES = {"done": "green", "missing": "yellow", "drifted": "yellow", "present": "yellow", "refused": "bold red"}


@app.command()
def up(
    ctx: typer.Context,
    dry_run: DryRun = False,
    yes: Yes = False,
    gpu_slices: Annotated[
        int | None, typer.Option("--gpu-slices", min=1, help="Time-sliced GPUs to advertise (default: models.toml).")
    ] = None,
    from_step: Annotated[
        str | None, typer.Option("--from", help="Start at this step (number or name); earlier steps are not checked.")
    ] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Reset an existing cluster and create it again (asks first).")
    ] = False,
    min_free_disk: Annotated[int, typer.Option("--min-free-disk", min=1, help="GiB needed under /var/lib.")] = 100,
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
    log = _RunLog("up")
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

        _plan_and_apply(
            state,
            _Run("up", host, select(cluster_steps(settings), from_step), session.facts, session.target, log),
            dry_run=dry_run,
            confirm=None if yes else confirm,
            finished="[green]The cluster is up.[/] sparkctl cluster status shows it.",
        )


@dataclass
class _Run:
    """One cluster command's steps, where they read facts and act, and the log of what they printed."""

    command: str
    host: str
    steps: list[Step]
    facts: RefreshableFacts
    target: Target
    log: _RunLog


def _plan_and_apply(
    state: AppContext, run: _Run, *, dry_run: bool, confirm: Callable[[Plan], None] | None, finished: str
) -> None:
    """The plan (a table, or JSON), a refusal as an error, one confirmation, then each step with its progress."""
    from sparkctl.cluster.plan import PlanRefused, apply_plan, make_plan

    plan = make_plan(run.steps, run.facts)
    if state.json and (dry_run or plan.nothing_to_do or plan.refused):
        print_json({"host": run.host, "dry_run": dry_run, **plan.document()})
    elif not state.json:
        _render_plan(f"cluster {run.command}: plan for {run.host}", plan)
    if plan.refused is not None:
        refused = plan.refused
        raise PlanRefused(
            f"step {refused.step.number} ({refused.step.name}): {refused.check.reason}",
            hint=getattr(refused.check, "hint", ""),
        )
    if dry_run or plan.nothing_to_do:
        return
    if confirm is not None:
        confirm(plan)
    events: list[dict[str, Any]] = []
    console = stdout()

    def on_event(kind: str, step: Step, text: str) -> None:
        events.append({"event": kind, "step": step.name, "text": text})
        run.log.note(f"[{kind}] step {step.number} {step.name}: {text}")
        if not state.json:
            _render_event(console, kind, step, text, run.log)

    try:
        apply_plan(run.steps, run.facts, run.target, on_event)
    except SparkctlError as error:
        path = run.log.save()
        error.hint = f"{error.hint} The whole output is in {path}.".strip()
        raise
    if state.json:
        print_json({"host": run.host, "applied": True, "events": events})
    else:
        console.print(finished)


class _RunLog:
    """Every command's output of a run, kept for the log file; the tail shown under a step that fails."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.lines: list[str] = []
        self.tail: deque[str] = deque(maxlen=10)

    def write(self, stream: str, text: str) -> None:
        self.lines.append(text)
        self.tail.extend(line for line in text.splitlines() if line.strip())

    def note(self, line: str) -> None:
        self.lines.append(f"{line}\n")
        self.tail.clear()

    def save(self) -> Path:
        from sparkctl.paths import state_dir

        path = state_dir() / "logs" / f"cluster-{self.command}-{time.strftime('%Y%m%d-%H%M%S')}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(self.lines), encoding="utf-8")
        return path


def _render_plan(title: str, plan: Plan) -> None:
    from rich.table import Table

    console = stdout()
    table = Table(title=title, title_justify="left")
    for column in ("#", "step", "state", "why"):
        table.add_column(column)
    for planned in plan.steps:
        style = _STATE_STYLES[planned.check.state]
        table.add_row(
            str(planned.step.number),
            planned.step.title,
            f"[{style}]{planned.check.state}[/]",
            escape(planned.check.reason),
        )
    console.print(table)
    for planned in plan.to_do:
        console.print(f"[bold]{planned.step.number}. {escape(planned.step.title)}[/]")
        for action in planned.actions:
            console.print(f"    {escape(action.render())}", highlight=False)
    if plan.nothing_to_do:
        console.print("[green]Nothing to do:[/] every step is done (the reasons are above).")


def _render_event(console: Any, kind: str, step: Step, text: str, log: _RunLog) -> None:
    if kind == "skip":
        console.print(f"[green]✓[/] {step.number}. {escape(step.title)} [dim]({escape(text)})[/]")
    elif kind == "start":
        console.print(f"[bold]→ {step.number}. {escape(step.title)}[/] [dim]{escape(text)}[/]")
    elif kind == "action":
        console.print(f"    [dim]$ {escape(text)}[/]", highlight=False)
    elif kind == "done":
        for line in log.tail:
            console.print(f"      [dim]{escape(line)}[/]", highlight=False)
        console.print(f"[green]✓[/] {step.number}. {escape(step.title)}")


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
    from sparkctl.cluster.session import ClusterSession
    from sparkctl.cluster.settings import cluster_settings
    from sparkctl.cluster.steps import teardown_steps
    from sparkctl.cluster.steps.teardown import LONGHORN_DATA

    state = app_context(ctx)
    settings = cluster_settings(
        state.catalog(models_file),
        host_spec=state.host_spec or state.config.host,
        kubeconfig=state.kubeconfig,
        purge=purge,
    )
    log = _RunLog("down")
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

        _plan_and_apply(
            state,
            _Run("down", host, teardown_steps(settings), session.facts, session.target, log),
            dry_run=dry_run,
            confirm=None if yes else confirm,
            finished="[green]The cluster is gone.[/] `sparkctl cluster up` makes it again.",
        )


@app.command()
def join(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="[user@]HOST[:PORT] of the machine to join as a worker.")],
    dry_run: DryRun = False,
    yes: Yes = False,
    min_free_disk: Annotated[int, typer.Option("--min-free-disk", min=1, help="GiB needed under /var/lib.")] = 100,
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
    log = _RunLog("join")
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

        _plan_and_apply(
            state,
            _Run("join", worker.name, join_steps(settings, control_plane.host), facts, target, log),
            dry_run=dry_run,
            confirm=None if yes else confirm,
            finished=f"[green]{escape(worker.name)} is a node of the cluster.[/] sparkctl cluster status shows it.",
        )
