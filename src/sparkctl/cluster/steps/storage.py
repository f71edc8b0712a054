"""Step 10: Longhorn on one node: one replica per volume, kept away from multipathd, two storage classes."""

from __future__ import annotations

from typing import Any

from sparkctl.cluster import pins
from sparkctl.cluster.actions import Action, HelmRelease, KubeCall, WriteFile, run
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.kubernetes import ApiServer, HelmReleases, StorageClasses
from sparkctl.cluster.facts.runtime import Services
from sparkctl.cluster.facts.system import FileContent
from sparkctl.cluster.steps.base import Check, Done, Drifted, Missing, Step, release_drift
from sparkctl.cluster.steps.gpu import PRIVILEGED

LONGHORN_NAMESPACE = "longhorn-system"
MULTIPATH_BLACKLIST = "/etc/multipath/conf.d/sparkctl-longhorn.conf"
MODELS_CLASS = "longhorn-models"


def multipath_blacklist() -> str:
    """Longhorn's volumes appear as /dev/sdX; multipathd must leave them alone or mounts fail."""
    return 'blacklist {\n    devnode "^sd[a-z0-9]+"\n}\n'


def multipath_actions(facts: Facts) -> list[Action]:
    """The blacklist written when it is not there as it should be, and multipathd told when it runs."""
    if facts.get(FileContent(MULTIPATH_BLACKLIST)) == multipath_blacklist():
        return []
    actions: list[Action] = [WriteFile(MULTIPATH_BLACKLIST, multipath_blacklist())]
    if facts.get(Services("multipathd"))["multipathd"]["active"] == "active":
        actions.append(run("systemctl", "restart", "multipathd"))
    return actions


def longhorn_values() -> dict[str, Any]:
    return {
        "persistence": {"defaultClass": True, "defaultClassReplicaCount": 1, "reclaimPolicy": "Retain"},
        "defaultSettings": {"defaultReplicaCount": 1},
        "csi": {
            "attacherReplicaCount": 1,
            "provisionerReplicaCount": 1,
            "resizerReplicaCount": 1,
            "snapshotterReplicaCount": 1,
        },
    }


def models_storage_class() -> dict[str, Any]:
    """Where model weights live: one replica, kept when their claim is deleted."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": MODELS_CLASS},
        "provisioner": "driver.longhorn.io",
        "allowVolumeExpansion": True,
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "Immediate",
        "parameters": {"numberOfReplicas": "1", "staleReplicaTimeout": "30", "dataLocality": "best-effort"},
    }


class Longhorn(Step):
    number = 10
    name = "longhorn"
    title = "Longhorn storage (one replica per volume)"
    changes = "cluster"

    def _problems(self, facts: Facts) -> list[str]:
        problems = []
        if facts.get(FileContent(MULTIPATH_BLACKLIST)) != multipath_blacklist():
            problems.append("multipathd may claim Longhorn's devices")
        release = facts.get(HelmReleases()).get("longhorn")
        version = self.settings.longhorn_version
        if release is None:
            problems.append("Longhorn is not installed")
        elif drift := release_drift(release, version):
            problems.append(drift)
        classes = facts.get(StorageClasses())
        for name in ("longhorn", MODELS_CLASS):
            if name not in classes:
                problems.append(f"no storage class {name}")
            elif classes[name]["reclaim_policy"] != "Retain":
                problems.append(f"storage class {name} deletes volumes with their claims")
        return problems

    def check(self, facts: Facts) -> Check:
        api = facts.get(ApiServer())
        if not api or not api["reachable"]:
            return Missing("Longhorn goes on once the cluster's API answers")
        problems = self._problems(facts)
        if not problems:
            return Done(f"Longhorn {self.settings.longhorn_version}; storage classes longhorn and {MODELS_CLASS}")
        installed = facts.get(HelmReleases()).get("longhorn") is not None
        return (Drifted if installed else Missing)("; ".join(problems))

    def actions(self, facts: Facts) -> list[Action]:
        actions = multipath_actions(facts)
        storage_class = models_storage_class()
        return [
            *actions,
            KubeCall(
                f"label namespace {LONGHORN_NAMESPACE} pod-security.kubernetes.io/enforce=privileged",
                lambda kube: kube.label_namespace(LONGHORN_NAMESPACE, PRIVILEGED),
            ),
            HelmRelease(
                release="longhorn",
                chart=pins.LONGHORN_CHART,
                repo=pins.LONGHORN_REPO,
                version=self.settings.longhorn_version,
                namespace=LONGHORN_NAMESPACE,
                values=longhorn_values(),
            ),
            KubeCall(
                f"server-side apply StorageClass {MODELS_CLASS} (Longhorn, 1 replica, reclaim Retain)",
                lambda kube: kube.apply([storage_class]),
            ),
        ]
