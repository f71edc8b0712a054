"""sparkctl doctor: can this host run the stack, and what to fix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from sparkctl.cli.context import app_context
from sparkctl.cli.render import escape, print_json, stdout

if TYPE_CHECKING:
    from sparkctl.cluster.steps.preflight import Finding


def doctor(
    ctx: typer.Context,
    min_free_disk: Annotated[
        int, typer.Option("--min-free-disk", metavar="GIB", help="GiB that must be free under /var/lib.", min=1)
    ] = 100,
) -> None:
    """Check whether the host can run the platform and say what to fix."""
    from sparkctl.cluster.facts import LiveFacts
    from sparkctl.cluster.settings import cluster_settings
    from sparkctl.cluster.steps.preflight import preflight

    state = app_context(ctx)
    host = state.open_host()
    settings = cluster_settings(
        state.catalog(), host_spec=state.host_spec or state.config.host, min_free_disk_gib=min_free_disk
    )
    findings = preflight(LiveFacts(host, lambda: None, lambda: None), settings)
    ok = not any(finding.blocking for finding in findings)
    if state.json:
        print_json({"host": host.name, "ok": ok, "checks": [finding.__dict__ for finding in findings]})
    else:
        _render(host.name, findings, ok)
    if not ok:
        raise typer.Exit(1)


def _render(host_name: str, findings: list[Finding], ok: bool) -> None:
    from rich.table import Table

    styles = {"pass": "green", "warn": "yellow", "fail": "bold red"}
    table = Table(title=f"sparkctl doctor: {host_name}", title_justify="left")
    for column in ("check", "status", "found", "what to do"):
        table.add_column(column)
    for finding in findings:
        style = styles[finding.status]
        table.add_row(finding.check, f"[{style}]{finding.status}[/]", escape(finding.detail), escape(finding.fix))
    console = stdout()
    console.print(table)
    if ok:
        console.print("[green]This host can run the cluster:[/] sparkctl cluster up --dry-run shows the plan.")
    else:
        console.print("[bold red]Fix the failed checks above[/], then run sparkctl doctor again.")
