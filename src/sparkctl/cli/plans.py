"""Running a plan at the CLI edge, for `cluster up|down|join` and `serve deploy`: the plan as a table (or JSON),
a refusal as one error, one confirmation, then each step with its commands and their output's tail; a failed
run's whole output in a log file whose path the error names."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkctl.cli.context import AppContext
from sparkctl.cli.render import escape, print_json, stdout
from sparkctl.errors import SparkctlError

if TYPE_CHECKING:
    from sparkctl.cluster.actions import Target
    from sparkctl.cluster.facts import RefreshableFacts
    from sparkctl.cluster.plan import Plan
    from sparkctl.cluster.steps import Step

_STATE_STYLES = {"done": "green", "missing": "yellow", "drifted": "yellow", "present": "yellow", "refused": "bold red"}


@dataclass
class PlanRun:
    """One cluster command's steps, where they read facts and act, and the log of what they printed."""

    command: str
    host: str
    steps: list[Step]
    facts: RefreshableFacts
    target: Target
    log: RunLog


def plan_and_apply(
    state: AppContext,
    run: PlanRun,
    *,
    dry_run: bool,
    confirm: Callable[[Plan], None] | None,
    finished: str,
    report: list[dict[str, Any]] | None = None,
) -> None:
    """The plan (a table, or JSON), a refusal as an error, one confirmation, then each step with its progress.

    With `report`, the JSON documents are added to it instead of printed: a command that runs several plans
    prints one document."""
    from sparkctl.cluster.plan import PlanRefused, apply_plan, make_plan

    emit = print_json if report is None else report.append
    plan = make_plan(run.steps, run.facts)
    if state.json and (dry_run or plan.nothing_to_do or plan.refused):
        emit({"command": run.command, "host": run.host, "dry_run": dry_run, **plan.document()})
    elif not state.json:
        _render_plan(f"{run.command}: plan for {run.host}", plan)
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
        apply_plan(run.steps, run.facts, run.target, on_event, command=f"sparkctl {run.command}")
    except SparkctlError as error:
        path = run.log.save()
        error.hint = f"{error.hint} The whole output is in {path}.".strip()
        raise
    if state.json:
        emit({"command": run.command, "host": run.host, "applied": True, "events": events})
    else:
        console.print(finished)


class RunLog:
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

        path = state_dir() / "logs" / f"{self.command.replace(' ', '-')}-{time.strftime('%Y%m%d-%H%M%S')}.log"
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


def _render_event(console: Any, kind: str, step: Step, text: str, log: RunLog) -> None:
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
