"""`serve deploy` and `graphrag deploy` as plans, with the machinery of `cluster up` (sparkctl/cluster/plan.py):
each step checks facts of the cluster (Helm releases and their values, claims, Secrets, images on the nodes,
pods) and renders what it would do, so that a dry run shows the plan and a run does only what is missing.

Both deploys share the steps that pull, install and wait; serving adds cert-manager and KServe, the GraphRAG
stack its credentials and its services' image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sparkctl.catalog import Catalog, Model
from sparkctl.cluster.actions import Action, ChartInstall, HelmRelease, KubeCall
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.kubernetes import HelmReleases, KubeObject, NodeImages, Pods, ReleaseValues
from sparkctl.cluster.steps.base import Check, Done, Drifted, Missing, Refused, Settings, Step, release_drift
from sparkctl.deploy import images
from sparkctl.deploy.diff import values_diff
from sparkctl.deploy.pull import PULLED
from sparkctl.deploy.releases import (
    CERT_MANAGER,
    KSERVE_CHARTS,
    KSERVE_NAMESPACE,
    KSERVE_VERSION,
    ChartRelease,
    graphrag_release,
    kserve_values,
    serving_release,
)
from sparkctl.deploy.secrets import ensure_secret
from sparkctl.deploy.values import (
    COMPONENTS,
    CREDENTIAL_KEYS,
    CREDENTIALS_SECRET,
    GRAPHRAG_NAMESPACE,
    Mode,
    graphrag_models,
)

READY_TIMEOUT = 1800.0
"""A model server is ready once its weights are loaded: tens of gigabytes from disk into memory."""
SHOWN_CHANGES = 8


@dataclass(frozen=True)
class Workload:
    """Pods a deploy waits for: a model server or a service, by its name label."""

    name: str
    namespace: str
    component: str

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/component={self.component},app.kubernetes.io/name={self.name}"

    @property
    def labels(self) -> dict[str, str]:
        return dict(pair.split("=", 1) for pair in self.selector.split(","))


class Deploy(Protocol):
    """What a deploy plan needs to know of what it deploys."""

    catalog: Catalog

    def models(self) -> list[Model]: ...

    def release(self, facts: Facts) -> ChartRelease: ...

    def workloads(self) -> list[Workload]: ...


@dataclass(frozen=True)
class ServingDeploy:
    """What `serve deploy` was asked for."""

    catalog: Catalog
    mode: Mode = "kserve"
    names: tuple[str, ...] = ()

    def chart_release(self, kserve_version: str) -> ChartRelease:
        return serving_release(self.catalog, mode=self.mode, models=list(self.names), kserve_version=kserve_version)

    def release(self, facts: Facts) -> ChartRelease:
        return self.chart_release(installed_kserve(facts) or KSERVE_VERSION)

    def models(self) -> list[Model]:
        served = {server["name"] for server in self.chart_release(KSERVE_VERSION).values["models"]}
        return [model for model in self.catalog if model.name in served]

    def workloads(self) -> list[Workload]:
        return [Workload(model.name, model.namespace, "model-server") for model in self.models()]


@dataclass(frozen=True)
class GraphragDeploy:
    """What `graphrag deploy` deploys: the stack's model servers and services."""

    catalog: Catalog

    def release(self, facts: Facts) -> ChartRelease:
        return graphrag_release(self.catalog)

    def models(self) -> list[Model]:
        return graphrag_models(self.catalog)

    def workloads(self) -> list[Workload]:
        servers = [Workload(model.name, model.namespace, "model-server") for model in self.models()]
        stores = {"neo4j", "postgres", "redis", "nats"}
        return servers + [
            Workload(name, GRAPHRAG_NAMESPACE, "store" if name in stores else "service") for name in COMPONENTS
        ]


class DeployStep(Step):
    changes = "cluster"

    def __init__(self, deploy: Deploy) -> None:
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

    def _plain(self) -> bool:
        return isinstance(self.deploy, ServingDeploy) and self.deploy.mode == "plain"

    def check(self, facts: Facts) -> Check:
        if self._plain():
            return Done("plain mode needs no KServe and no cert-manager")
        release = facts.get(HelmReleases()).get(CERT_MANAGER.release)
        if release is None:
            return Missing("cert-manager is not installed")
        if drift := release_drift(release, CERT_MANAGER.version):
            return Drifted(drift)
        return Done(f"cert-manager {CERT_MANAGER.version}")

    def actions(self, facts: Facts) -> list[Action]:
        return [CERT_MANAGER]


class KServe(CertManager):
    number = 3
    name = "kserve"
    title = "KServe (ingress creation off: no Gateway on one node)"

    def check(self, facts: Facts) -> Check:
        if self._plain():
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


class Credentials(DeployStep):
    """Made once, by sparkctl and not by the chart, so no manifest ever holds them; kept on upgrades."""

    number = 2
    name = "credentials"
    title = "Passwords and API keys, generated once"

    def _missing(self, facts: Facts) -> list[str]:
        secret = facts.get(KubeObject("Secret", GRAPHRAG_NAMESPACE, CREDENTIALS_SECRET))
        present = set(((secret or {}).get("data") or {}).keys())
        return [key for key in CREDENTIAL_KEYS if key not in present]

    def check(self, facts: Facts) -> Check:
        missing = self._missing(facts)
        where = f"Secret {GRAPHRAG_NAMESPACE}/{CREDENTIALS_SECRET}"
        if not missing:
            return Done(f"{where} holds {', '.join(CREDENTIAL_KEYS)}")
        return Missing(f"{where} lacks {', '.join(missing)}")

    def actions(self, facts: Facts) -> list[Action]:
        missing = self._missing(facts)
        return [
            KubeCall(
                f"generate {', '.join(missing)} into Secret {GRAPHRAG_NAMESPACE}/{CREDENTIALS_SECRET} "
                "(the values are never shown; existing keys stay)",
                lambda kube: ensure_secret(kube, GRAPHRAG_NAMESPACE, CREDENTIALS_SECRET, CREDENTIAL_KEYS),
            )
        ]


class ServicesImage(DeployStep):
    number = 3
    name = "image"
    title = "The services' image on the node"

    def check(self, facts: Facts) -> Check:
        wanted = images.SERVICES.reference
        on_nodes = facts.get(NodeImages())
        if any(wanted in names for names in on_nodes.values()):
            return Done(f"{wanted} is on the node")
        return Refused(
            f"{wanted} is not on any node" + ("" if on_nodes else " (no node reports its images)"),
            "Build it on the Spark and import it into containerd's k8s.io namespace: see services/README.md.",
        )

    def actions(self, facts: Facts) -> list[Action]:
        return []


class ChartReleaseStep(DeployStep):
    number = 4
    name = "release"
    title = "The release, with values from models.toml"

    def check(self, facts: Facts) -> Check:
        release = self.deploy.release(facts)
        installed = facts.get(HelmReleases()).get(release.release)
        if installed is None:
            return Missing(f"{release.release} is not installed; {_summary(release.values)}")
        if installed["status"] != "deployed":
            return Drifted(f"{release.release} is {installed['status']}")
        current = facts.get(ReleaseValues(release.release, release.namespace)) or {}
        changes = values_diff(current, release.values)
        if changes:
            shown = "; ".join(changes[:SHOWN_CHANGES])
            more = f" (and {len(changes) - SHOWN_CHANGES} more)" if len(changes) > SHOWN_CHANGES else ""
            return Drifted(f"values differ from models.toml: {shown}{more}")
        return Done(f"{release.release} as models.toml says ({_summary(release.values)})")

    def actions(self, facts: Facts) -> list[Action]:
        release = self.deploy.release(facts)
        mode = f"{release.values['mode']} mode, " if "mode" in release.values else ""
        return [
            ChartInstall(
                release.release,
                str(release.chart_dir),
                release.namespace,
                release.values,
                f"{mode}{_summary(release.values)}",
            )
        ]


class Ready(DeployStep):
    number = 5
    name = "ready"
    title = "Every pod ready"

    def _not_ready(self, facts: Facts) -> list[tuple[Workload, str]]:
        waiting = []
        for workload in self.deploy.workloads():
            pods = facts.get(Pods(workload.namespace, workload.selector))
            if not any(pod["ready"] for pod in pods):
                why = f"{pods[-1]['phase']} {pods[-1]['reason']}".strip() if pods else "no pod yet"
                waiting.append((workload, why))
        return waiting

    def check(self, facts: Facts) -> Check:
        waiting = self._not_ready(facts)
        if not waiting:
            return Done(f"{len(self.deploy.workloads())} workload(s) ready")
        return Missing("; ".join(f"{workload.name}: {why}" for workload, why in waiting))

    def actions(self, facts: Facts) -> list[Action]:
        return [
            KubeCall(
                f"wait until {workload.name} in {workload.namespace} is ready (timeout {READY_TIMEOUT:g} s)",
                _waiter(workload),
            )
            for workload, _ in self._not_ready(facts)
        ]


def _waiter(workload: Workload) -> Any:
    return lambda kube: kube.wait_pods_ready(workload.namespace, workload.labels, timeout=READY_TIMEOUT)


def _summary(values: dict[str, Any]) -> str:
    models = ", ".join(server["name"] for server in values["models"]) or "no model"
    services = f" and {len(values['components'])} services" if "components" in values else ""
    return f"models {models}{services}"


def serving_steps(deploy: ServingDeploy) -> list[Step]:
    return [step(deploy) for step in (ModelWeights, CertManager, KServe, ChartReleaseStep, Ready)]


def graphrag_steps(deploy: GraphragDeploy, *, image_built: bool = False) -> list[Step]:
    """The stack's plan; without the image check when `--build` has just made the image on the host (its own
    plan verified it there, and a node's image list lags behind)."""
    kinds = (ModelWeights, Credentials, ServicesImage, ChartReleaseStep, Ready)
    return [step(deploy) for step in kinds if not (image_built and step is ServicesImage)]
