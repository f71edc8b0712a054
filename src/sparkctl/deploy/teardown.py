"""`sparkctl teardown`: the stacks removed from the top down, as a plan: releases first (the consumers before
what they use), then, only with --purge, the volumes (claim, volume and Longhorn's copy of it), then the
namespaces that hold nothing kept. Without --purge no claim is ever deleted, so no data is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sparkctl.catalog import Catalog
from sparkctl.cluster.actions import Action, HelmUninstall, KubeCall
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.kubernetes import Claims, HelmReleases, KubeObject
from sparkctl.cluster.steps.base import Check, Done, Present, Settings, Step
from sparkctl.deploy.releases import CERT_MANAGER, KSERVE_CHARTS, KSERVE_NAMESPACE
from sparkctl.deploy.values import GRAPHRAG_NAMESPACE, SERVING_NAMESPACE, graphrag_models, serving_models

NAMESPACE_TIMEOUT = 600.0


@dataclass(frozen=True)
class Stack:
    """What one stack put in the cluster: its releases, top first, and its namespaces."""

    name: str
    releases: tuple[tuple[str, str], ...]
    """(release, namespace), uninstalled in this order."""
    namespaces: tuple[str, ...]


def stacks(catalog: Catalog, names: list[str]) -> list[Stack]:
    """The stacks named, GraphRAG before serving (it uses the served models), each at most once."""
    serving_namespaces = sorted({SERVING_NAMESPACE, *(model.namespace for model in serving_models(catalog))})
    graphrag_namespaces = sorted({GRAPHRAG_NAMESPACE, *(model.namespace for model in graphrag_models(catalog))})
    known = {
        "graphrag": Stack("graphrag", (("graphrag", GRAPHRAG_NAMESPACE),), tuple(graphrag_namespaces)),
        "serve": Stack(
            "serve",
            (
                ("llm-serving", SERVING_NAMESPACE),
                *((chart, KSERVE_NAMESPACE) for chart in reversed(KSERVE_CHARTS)),
                (CERT_MANAGER.release, CERT_MANAGER.namespace),
            ),
            (*serving_namespaces, KSERVE_NAMESPACE, CERT_MANAGER.namespace),
        ),
    }
    return [known[name] for name in ("graphrag", "serve") if name in names]


class TeardownStep(Step):
    changes = "cluster"

    def __init__(self, removed: list[Stack], purge: bool) -> None:
        super().__init__(Settings(purge=purge))
        self.removed = removed

    @property
    def namespaces(self) -> list[str]:
        return sorted({namespace for stack in self.removed for namespace in stack.namespaces})


class Releases(TeardownStep):
    number = 1
    name = "releases"
    title = "Helm releases, top down"

    def _present(self, facts: Facts) -> list[tuple[str, str]]:
        installed = facts.get(HelmReleases())
        return [
            (release, namespace)
            for stack in self.removed
            for release, namespace in stack.releases
            if release in installed and installed[release]["namespace"] == namespace
        ]

    def check(self, facts: Facts) -> Check:
        present = self._present(facts)
        if not present:
            return Done("none of these releases is installed")
        return Present("installed: " + ", ".join(release for release, _ in present))

    def actions(self, facts: Facts) -> list[Action]:
        return [HelmUninstall(release, namespace) for release, namespace in self._present(facts)]


class Volumes(TeardownStep):
    number = 2
    name = "volumes"
    title = "Data volumes (deleted only with --purge)"

    def _claims(self, facts: Facts) -> list[dict[str, Any]]:
        return [claim for namespace in self.namespaces for claim in facts.get(Claims(namespace))]

    def check(self, facts: Facts) -> Check:
        claims = self._claims(facts)
        if not claims:
            return Done("no volume in these namespaces")
        names = ", ".join(f"{claim['namespace']}/{claim['name']}" for claim in claims)
        if not self.settings.purge:
            return Done(f"kept: {names} (--purge deletes them)")
        return Present(names)

    def actions(self, facts: Facts) -> list[Action]:
        return [
            KubeCall(
                f"delete claim {claim['namespace']}/{claim['name']}"
                + (f", its volume {claim['volume']} and Longhorn's copy of it" if claim["volume"] else ""),
                _deleter(claim),
            )
            for claim in self._claims(facts)
        ]


def _deleter(claim: dict[str, Any]) -> Any:
    def delete(kube: Any) -> None:
        kube.delete("PersistentVolumeClaim", claim["name"], namespace=claim["namespace"])
        if claim["volume"]:
            kube.delete("PersistentVolume", claim["volume"])
            kube.delete("Volume", claim["volume"], namespace="longhorn-system")

    return delete


class Namespaces(TeardownStep):
    number = 3
    name = "namespaces"
    title = "Namespaces that hold nothing kept"

    def _removable(self, facts: Facts) -> tuple[list[str], list[str]]:
        existing = [ns for ns in self.namespaces if facts.get(KubeObject("Namespace", "", ns)) is not None]
        if self.settings.purge:
            return existing, []
        keep = [ns for ns in existing if facts.get(Claims(ns))]
        return [ns for ns in existing if ns not in keep], keep

    def check(self, facts: Facts) -> Check:
        removable, kept = self._removable(facts)
        why = f" ({', '.join(kept)} kept: they hold volumes)" if kept else ""
        if not removable:
            return Done("no namespace to delete" + why)
        return Present(", ".join(removable) + why)

    def actions(self, facts: Facts) -> list[Action]:
        return [
            KubeCall(f"delete namespace {namespace} and wait until it is gone", _namespace_deleter(namespace))
            for namespace in self._removable(facts)[0]
        ]


def _namespace_deleter(namespace: str) -> Any:
    return lambda kube: kube.delete_namespace(namespace, wait=True, timeout=NAMESPACE_TIMEOUT)


def teardown_plan_steps(removed: list[Stack], *, purge: bool) -> list[Step]:
    return [step(removed, purge) for step in (Releases, Volumes, Namespaces)]
