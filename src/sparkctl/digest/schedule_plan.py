"""The scheduled digest in the cluster: the plans of `sparkctl digest schedule` (its orchestrator and API key
there, then the CronJob applied server-side) and of `--remove`, and the schedules `--list` finds.

Only CronJobs carrying the schedules' labels (digest/schedule.py's LABELS) are changed, listed or removed: a
CronJob of the same name made by anything else is refused, never overwritten.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparkctl.cluster.actions import Action, KubeCall
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.kubernetes import KubeObject
from sparkctl.cluster.steps.base import Check, Done, Drifted, Missing, Present, Refused, Settings, Step
from sparkctl.deploy.diff import values_diff
from sparkctl.deploy.values import CREDENTIALS_SECRET, GRAPHRAG_NAMESPACE
from sparkctl.digest.schedule import AT, LABELS, REPOSITORIES, Schedule, cronjob, orchestrator_url

if TYPE_CHECKING:
    from sparkctl.kube import Kube

SHOWN_CHANGES = 6


def api_key_problem(secret: dict[str, Any]) -> str | None:
    """Why the CronJob cannot pass the Secret's `api-keys` as its one key (sparkctl generates one key, but a
    person may have added entries); None when it can. The value itself is never returned."""
    where = f"Secret {GRAPHRAG_NAMESPACE}/{CREDENTIALS_SECRET}"
    encoded = (secret.get("data") or {}).get("api-keys")
    if not encoded:
        return f"{where} holds no api-keys"
    value = base64.b64decode(encoded).decode("utf-8", "replace")
    if any(mark.isspace() or mark in ",:" for mark in value):
        return f"{where}'s api-keys holds several entries or a key bound to workspaces, which the CronJob cannot use"
    return None


@dataclass(frozen=True)
class Scheduled:
    """A schedule found in the cluster."""

    name: str
    at: str
    cron: str
    timezone: str | None
    repositories: tuple[str, ...]
    last_run: str | None
    last_success: str | None

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> Scheduled:
        metadata, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        annotations = metadata.get("annotations") or {}
        return cls(
            name=metadata["name"],
            at=annotations.get(AT, ""),
            cron=spec.get("schedule", ""),
            timezone=spec.get("timeZone"),
            repositories=tuple(filter(None, annotations.get(REPOSITORIES, "").splitlines())),
            last_run=status.get("lastScheduleTime"),
            last_success=status.get("lastSuccessfulTime"),
        )


def schedules(kube: Kube) -> list[Scheduled]:
    """sparkctl's digest schedules in the cluster, by name."""
    return [Scheduled.from_object(obj) for obj in kube.objects("CronJob", GRAPHRAG_NAMESPACE, LABELS)]


def ours(obj: dict[str, Any]) -> bool:
    """Whether the object is one of sparkctl's digest schedules (by its labels)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return LABELS.items() <= labels.items()


class _ScheduleStep(Step):
    changes = "cluster"

    def __init__(self, cronjob_name: str) -> None:
        super().__init__(Settings())
        self.cronjob_name = cronjob_name

    @property
    def where(self) -> str:
        return f"CronJob {GRAPHRAG_NAMESPACE}/{self.cronjob_name}"

    def current(self, facts: Facts) -> dict[str, Any] | None:
        return facts.get(KubeObject("CronJob", GRAPHRAG_NAMESPACE, self.cronjob_name))


class Orchestrator(_ScheduleStep):
    number = 1
    name = "orchestrator"
    title = "The GraphRAG stack's orchestrator and its API key"

    def check(self, facts: Facts) -> Check:
        deploy = "Run `sparkctl graphrag deploy` first: the scheduled digest sends the commits to its orchestrator."
        secret = facts.get(KubeObject("Secret", GRAPHRAG_NAMESPACE, CREDENTIALS_SECRET))
        if secret is None:
            return Refused(f"Secret {GRAPHRAG_NAMESPACE}/{CREDENTIALS_SECRET} does not exist", deploy)
        problem = api_key_problem(secret)
        if problem is not None:
            return Refused(problem, "Make api-keys one key without workspaces, or schedule with --local.")
        if facts.get(KubeObject("Deployment", GRAPHRAG_NAMESPACE, "orchestrator")) is None:
            return Refused(f"there is no orchestrator Deployment in {GRAPHRAG_NAMESPACE}", deploy)
        return Done(f"{orchestrator_url()}, its key from Secret {GRAPHRAG_NAMESPACE}/{CREDENTIALS_SECRET}")

    def actions(self, facts: Facts) -> list[Action]:
        return []


class CronJobApplied(_ScheduleStep):
    number = 2
    name = "cronjob"
    title = "The CronJob running `sparkctl digest run` every day"

    def __init__(self, manifest: dict[str, Any]) -> None:
        super().__init__(manifest["metadata"]["name"])
        self.manifest = manifest

    def check(self, facts: Facts) -> Check:
        current = self.current(facts)
        when = f"{self.manifest['metadata']['annotations'][AT]}, cron {self.manifest['spec']['schedule']!r}"
        if current is None:
            return Missing(f"{self.where} does not exist (it would run at {when})")
        if not ours(current):
            return Refused(f"{self.where} exists and is not one of sparkctl's digests", "Choose another --name.")
        changes = values_diff(_as_applied(current, self.manifest), self.manifest)
        if changes:
            more = f" (and {len(changes) - SHOWN_CHANGES} more)" if len(changes) > SHOWN_CHANGES else ""
            return Drifted(f"{self.where} differs: " + "; ".join(changes[:SHOWN_CHANGES]) + more)
        return Done(f"{self.where} runs at {when}, as asked")

    def actions(self, facts: Facts) -> list[Action]:
        manifest, spec = self.manifest, self.manifest["spec"]
        count = len(manifest["metadata"]["annotations"][REPOSITORIES].splitlines())
        zone = f" in {spec['timeZone']}" if "timeZone" in spec else ""
        return [
            KubeCall(
                f"apply {self.where} (server-side): cron {spec['schedule']!r}{zone}, "
                f"`digest run` of {count} repositor{'y' if count == 1 else 'ies'}",
                lambda kube: kube.apply([manifest]),
            )
        ]


class CronJobRemoved(_ScheduleStep):
    number = 1
    name = "cronjob"
    title = "The schedule's CronJob removed, with its Jobs and their pods"

    def check(self, facts: Facts) -> Check:
        current = self.current(facts)
        if current is None:
            return Done(f"there is no {self.where}")
        if not ours(current):
            return Refused(f"{self.where} is not one of sparkctl's digests", "`digest schedule --list` shows those.")
        return Present(f"{self.where} runs at {Scheduled.from_object(current).at or current['spec']['schedule']}")

    def actions(self, facts: Facts) -> list[Action]:
        name = self.cronjob_name
        return [
            KubeCall(
                f"delete {self.where} (its Jobs and pods go with it)",
                lambda kube: kube.delete("CronJob", name, namespace=GRAPHRAG_NAMESPACE),
            )
        ]


def schedule_steps(schedule: Schedule) -> list[Step]:
    """`digest schedule`'s plan: the orchestrator and its key there, then the CronJob."""
    manifest = cronjob(schedule)
    return [Orchestrator(manifest["metadata"]["name"]), CronJobApplied(manifest)]


def unschedule_steps(name: str) -> list[Step]:
    """`digest schedule --remove NAME`'s plan."""
    return [CronJobRemoved(name)]


def _as_applied(current: Any, wanted: Any) -> Any:
    """The part of the object the manifest sets (the server's defaults left out), to compare with it."""
    if isinstance(wanted, dict) and isinstance(current, dict):
        return {key: _as_applied(current[key], value) for key, value in wanted.items() if key in current}
    if isinstance(wanted, list) and isinstance(current, list) and len(wanted) == len(current):
        return [_as_applied(old, new) for old, new in zip(current, wanted, strict=True)]
    return current
