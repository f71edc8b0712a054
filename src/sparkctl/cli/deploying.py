"""What `serve` and `graphrag` share at the CLI edge: the memory budget shown and enforced, the manifests of a
dry run printed as one YAML stream, and removing a release."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from sparkctl.cli.context import AppContext, OutputFormat
from sparkctl.cli.render import escape, print_json, stdout
from sparkctl.errors import ConfigError

if TYPE_CHECKING:
    from sparkctl.catalog import Catalog
    from sparkctl.deploy.budget import MemoryBudget
    from sparkctl.deploy.releases import ChartRelease
    from sparkctl.helm import Helm

Force = Annotated[
    bool, typer.Option("--force", help="Deploy even when the memory limits add up to more than the unified memory.")
]


def enforce_budget(state: AppContext, catalog: Catalog, *, force: bool) -> MemoryBudget:
    """Both charts' memory limits and the system's share against the unified memory; refused when over,
    after a table of the biggest consumers (text output), unless `force`."""
    from sparkctl.deploy.budget import check_budget, memory_budget
    from sparkctl.deploy.releases import graphrag_release, serving_release

    budget = memory_budget(catalog, serving_release(catalog).values, graphrag_release(catalog).values)
    if not budget.fits and state.output is OutputFormat.text:
        render_budget(budget)
    check_budget(budget, force=force)
    return budget


def render_budget(budget: MemoryBudget) -> None:
    from rich.table import Table

    from sparkctl.deploy.budget import gib

    table = Table(title="Memory limits, biggest first", title_justify="left")
    for column in ("what", "kind", "memory", "set in"):
        table.add_column(column)
    for consumer in budget.biggest(len(budget.consumers)):
        table.add_row(consumer.name, consumer.kind, gib(consumer.memory), escape(consumer.source))
    verdict = "[green]fits[/]" if budget.fits else "[bold red]over[/]"
    table.add_row("total", "", gib(budget.total), f"{verdict} {gib(budget.unified_memory)} of unified memory")
    stdout().print(table)


def offline_helm() -> Helm:
    """helm on this machine, for rendering without a cluster."""
    from sparkctl.helm import Helm
    from sparkctl.helm_install import require_helm

    return Helm(require_helm("a dry run renders the charts with it"))


def print_manifests(release: ChartRelease, *, dry_run: bool) -> None:
    """`--output yaml`: the release's manifests, rendered offline, as one YAML stream (a dry run only)."""
    from sparkctl.deploy.releases import manifests_yaml

    if not dry_run:
        raise ConfigError("--output yaml prints the manifests of a dry run", hint="Add --dry-run.")
    sys.stdout.write(manifests_yaml(release.render(offline_helm())))


def remove_release(
    state: AppContext, release: str, namespace: str, *, kept: str, question: str, done: str, dry_run: bool, yes: bool
) -> None:
    """`helm uninstall` of one of sparkctl's releases: what it would do, one confirmation, then done. The
    release's volumes stay (the charts keep their claims); `kept` says which."""
    from sparkctl.deploy.session import DeploySession

    with DeploySession(state.host_spec or state.config.host, state.kubeconfig) as session:
        present = any(item.name == release for item in session.helm.releases(namespace))
        plan = [f"helm uninstall {release} --namespace {namespace} --wait"] if present else []
        if state.json and (dry_run or not present):
            print_json({"dry_run": dry_run, "actions": plan})
            return
        if not state.json:
            console = stdout()
            console.print(plan[0] if plan else f"{release} is not installed: nothing to remove.", highlight=False)
            if present:
                console.print(f"[dim]{escape(kept)}[/]")
        if dry_run or not present:
            return
        if not yes:
            typer.confirm(question, abort=True, err=True)
        session.helm.uninstall(release, namespace, wait=True)
    if state.json:
        print_json({"dry_run": False, "actions": plan})
    else:
        stdout().print(f"[green]{release} is removed.[/] {escape(done)}")
