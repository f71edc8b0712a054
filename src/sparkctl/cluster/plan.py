"""A plan: every step with its state, its reason and the exact actions it would take; then applying it.

The same code makes the dry run and the run: a step's actions are computed from facts read just before
it applies, and the step is checked again afterwards, so a run that stops anywhere resumes from facts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sparkctl.cluster.actions import Action, Target
from sparkctl.cluster.facts import Facts, RefreshableFacts
from sparkctl.cluster.steps import Check, Done, Refused, Step
from sparkctl.errors import SparkctlError


class PlanRefused(SparkctlError):
    """A step cannot go on without a person's decision; nothing was changed by it."""


class StepFailed(SparkctlError):
    """A step's actions ran but the step is still not done."""


@dataclass(frozen=True)
class PlannedStep:
    step: Step
    check: Check
    actions: tuple[Action, ...]

    @property
    def to_do(self) -> bool:
        return not isinstance(self.check, Done | Refused)

    def document(self) -> dict[str, Any]:
        return {
            "number": self.step.number,
            "name": self.step.name,
            "title": self.step.title,
            "state": self.check.state,
            "reason": self.check.reason,
            "hint": getattr(self.check, "hint", ""),
            "actions": [action.render() for action in self.actions],
        }


@dataclass(frozen=True)
class Plan:
    steps: tuple[PlannedStep, ...]

    @property
    def to_do(self) -> tuple[PlannedStep, ...]:
        return tuple(planned for planned in self.steps if planned.to_do)

    @property
    def refused(self) -> PlannedStep | None:
        return next((planned for planned in self.steps if isinstance(planned.check, Refused)), None)

    @property
    def nothing_to_do(self) -> bool:
        return not self.to_do and self.refused is None

    def document(self) -> dict[str, Any]:
        return {"nothing_to_do": self.nothing_to_do, "steps": [planned.document() for planned in self.steps]}


def select(steps: Sequence[Step], start: str | None) -> list[Step]:
    """The steps from `start` (a number or a name) on; all of them when start is None."""
    if start is None:
        return list(steps)
    for index, step in enumerate(steps):
        if start in (str(step.number), step.name):
            return list(steps[index:])
    names = ", ".join(f"{step.number} {step.name}" for step in steps)
    raise SparkctlError(f"there is no step {start!r}", hint=f"Steps: {names}.")


def make_plan(steps: Sequence[Step], facts: Facts) -> Plan:
    planned = []
    for step in steps:
        check = step.check(facts)
        actions = tuple(step.actions(facts)) if not isinstance(check, Done | Refused) else ()
        planned.append(PlannedStep(step, check, actions))
    return Plan(tuple(planned))


StepEvent = Callable[[str, Step, str], None]
"""Progress: ("start" | "action" | "skip" | "done", step, text)."""


def apply_plan(
    steps: Sequence[Step],
    facts: RefreshableFacts,
    target: Target,
    on_event: StepEvent,
    command: str = "sparkctl cluster up",
) -> None:
    """Each step in order: re-read the facts, skip it when done, else run its actions and verify it. `command`
    is what to run again after a failure (the plan resumes from facts)."""
    for step in steps:
        facts.refresh()
        check = step.check(facts)
        if isinstance(check, Done):
            on_event("skip", step, check.reason)
            continue
        if isinstance(check, Refused):
            raise PlanRefused(f"step {step.number} ({step.name}): {check.reason}", hint=check.hint)
        on_event("start", step, check.reason)
        for action in step.actions(facts):
            on_event("action", step, action.render())
            action.execute(target)
        facts.refresh()
        verified = step.verify(facts)
        if not isinstance(verified, Done):
            raise StepFailed(
                f"step {step.number} ({step.name}) ran but is not done: {verified.reason}",
                hint=f"Fix what it names, then run `{command}` again: it resumes at step {step.number}.",
            )
        on_event("done", step, verified.reason)
