"""`serve deploy` as a plan, with the machinery of `cluster up` (sparkctl/cluster/plan.py): each step checks
facts of the cluster (Helm releases, their values, claims, pods) and renders what it would do, so that a dry
run shows the plan and a run does only what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sparkctl.catalog import Catalog, Model
from sparkctl.cluster.actions import Action, ChartInstall, HelmRelease, KubeCall
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.kubernetes import HelmReleases, KubeObject, Pods, ReleaseValues
from sparkctl.cluster.steps.base import Check, Done, Drifted, Missing, Refused, Settings, Step, release_drift
from sparkctl.deploy.diff import values_diff
from sparkctl.deploy.pull import PULLED
from sparkctl.deploy.releases import (
    CERT_MANAGER,
    KSERVE_CHARTS,
    KSERVE_NAMESPACE,
    KSERVE_VERSION,
    ChartRelease,
    kserve_values,
    serving_release,
)
from sparkctl.deploy.values import Mode

READY_TIMEOUT = 1800.0
"""A model server is ready once its weights are loaded: tens of gigabytes from disk into memory."""
SHOWN_CHANGES = 8


@dataclass(frozen=True)
class ServingDeploy:
    """What `serve deploy` was asked for."""

    catalog: Catalog
    mode: Mode = "kserve"
    names: tuple[str, ...] = ()

    def release(self, kserve_version: str) -> ChartRelease:
        return serving_release(self.catalog, mode=self.mode, models=list(self.names), kserve_version=kserve_version)

    def models(self) -> list[Model]:
        served = {server["name"] for server in self.release(KSERVE_VERSION).values["models"]}
        return [model for model in self.catalog if model.name in served]


class DeployStep(Step):
    changes = "cluster"

    def __init__(self, deploy: ServingDeploy) -> None:
        super().__init__(Settings())
        self.deploy = deploy


def installed_kserve(facts: Facts) -> str | None:
    release = facts.get(HelmReleases()).get("kserve-resources")
    return release["chart_version"] if release and release["status"] == "deployed" else None


class ModelWeights(DeployStep):
    number = 1
    name = "weights"
    title = "Model weights on their volumes"

    def check(self, facts: Facts) -> Check:
        missing = []
        for model in self.deploy.models():
            claim = facts.get(KubeObject("PersistentVolumeClaim", model.namespace, model.claim_name))
            annotations = ((claim or {}).get("metadata") or {}).get("annotations") or {}
            if annotations.get(PULLED) != model.pull_ref:
                missing.append(model.name)
        if missing:
            return Refused(
                f"not pulled yet: {', '.join(missing)}",
                f"Run `sparkctl models pull {' '.join(missing)}` first: a server without its weights never gets ready.",
            )
        return Done(f"{len(self.deploy.models())} model(s) pulled")

    def actions(self, facts: Facts) -> list[Action]:
        return []


class CertManager(DeployStep):
    number = 2
    name = "cert-manager"
    title = "cert-manager (KServe's certificates)"

    def check(self, facts: Facts) -> Check:
        if self.deploy.mode == "plain":
            return Done("plain mode needs no KServe and no cert-manager")
        release = facts.get(HelmReleases()).get(CERT_MANAGER.release)
        if release is None:
            return Missing("cert-manager is not installed")
        if drift := release_drift(release, CERT_MANAGER.version):
            return Drifted(drift)
        return Done(f"cert-manager {CERT_MANAGER.version}")

    def actions(self, facts: Facts) -> list[Action]:
        return [CERT_MANAGER]


class KServe(DeployStep):
    number = 3
    name = "kserve"
    title = "KServe (ingress creation off: no Gateway on one node)"

    def check(self, facts: Facts) -> Check:
        if self.deploy.mode == "plain":
            return Done("plain mode: Deployments and Services, no KServe")
        installed = installed_kserve(facts)
        crd = facts.get(HelmReleases()).get("kserve-crd")
        if installed is not None and crd is not None and crd["status"] == "deployed":
            return Done(f"KServe {installed} (the InferenceServices are made for it)")
        return Missing(f"KServe {KSERVE_VERSION} is not installed")

    def actions(self, facts: Facts) -> list[Action]:
        crd, resources = KSERVE_CHARTS
        return [
            HelmRelease(crd, f"oci://ghcr.io/kserve/charts/{crd}", None, KSERVE_VERSION, KSERVE_NAMESPACE, {}),
            HelmRelease(
                resources,
                f"oci://ghcr.io/kserve/charts/{resources}",
                None,
                KSERVE_VERSION,
                KSERVE_NAMESPACE,
                kserve_values(KSERVE_VERSION),
            ),
        ]


class LlmServing(DeployStep):
    number = 4
    name = "llm-serving"
    title = "The llm-serving release"

    def _release(self, facts: Facts) -> ChartRelease:
        return self.deploy.release(installed_kserve(facts) or KSERVE_VERSION)

    def check(self, facts: Facts) -> Check:
        release = self._release(facts)
        installed = facts.get(HelmReleases()).get(release.release)
        if installed is None:
            return Missing(f"not installed; it would serve {_names(release.values)}")
        current = facts.get(ReleaseValues(release.release, release.namespace)) or {}
        changes = values_diff(current, release.values)
        if installed["status"] != "deployed":
            return Drifted(f"release is {installed['status']}")
        if changes:
            shown = "; ".join(changes[:SHOWN_CHANGES])
            more = f" (and {len(changes) - SHOWN_CHANGES} more)" if len(changes) > SHOWN_CHANGES else ""
            return Drifted(f"values differ from models.toml: {shown}{more}")
        return Done(f"serving {_names(release.values)} as models.toml says")

    def actions(self, facts: Facts) -> list[Action]:
        release = self._release(facts)
        return [
            ChartInstall(
                release.release,
                str(release.chart_dir),
                release.namespace,
                release.values,
                f"{self.deploy.mode} mode: {_names(release.values)}",
            )
        ]


class ModelsReady(DeployStep):
    number = 5
    name = "ready"
    title = "Every model server ready"

    def _not_ready(self, facts: Facts) -> list[tuple[Model, str]]:
        waiting = []
        for model in self.deploy.models():
            pods = facts.get(Pods(model.namespace, _selector(model)))
            if not any(pod["ready"] for pod in pods):
                why = f"{pods[-1]['phase']} {pods[-1]['reason']}".strip() if pods else "no pod yet"
                waiting.append((model, why))
        return waiting

    def check(self, facts: Facts) -> Check:
        waiting = self._not_ready(facts)
        if not waiting:
            return Done(f"{len(self.deploy.models())} model server(s) ready")
        return Missing("; ".join(f"{model.name}: {why}" for model, why in waiting))

    def actions(self, facts: Facts) -> list[Action]:
        return [
            KubeCall(
                f"wait until {model.name} in {model.namespace} is ready (timeout {READY_TIMEOUT:g} s)",
                _waiter(model),
            )
            for model, _ in self._not_ready(facts)
        ]


def _selector(model: Model) -> str:
    return f"app.kubernetes.io/component=model-server,app.kubernetes.io/name={model.name}"


def _waiter(model: Model) -> Any:
    labels = dict(pair.split("=", 1) for pair in _selector(model).split(","))
    return lambda kube: kube.wait_pods_ready(model.namespace, labels, timeout=READY_TIMEOUT)


def _names(values: dict[str, Any]) -> str:
    return ", ".join(server["name"] for server in values["models"]) or "no model"


SERVING_STEPS: tuple[type[DeployStep], ...] = (ModelWeights, CertManager, KServe, LlmServing, ModelsReady)


def serving_steps(deploy: ServingDeploy) -> list[Step]:
    return [step_type(deploy) for step_type in SERVING_STEPS]
