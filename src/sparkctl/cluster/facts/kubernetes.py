"""Facts of the cluster: kubeadm's files on the host, the API server, the node, objects and Helm releases."""

from __future__ import annotations

import dataclasses
import shlex
from typing import TYPE_CHECKING, Any

from sparkctl.cluster.facts.base import HelmFact, HostFact, KubeFact
from sparkctl.errors import KubeError

if TYPE_CHECKING:
    from sparkctl.helm import Helm
    from sparkctl.kube import Kube

ADMIN_CONF = "/etc/kubernetes/admin.conf"
KUBEADM_FILES = (
    ADMIN_CONF,
    "/etc/kubernetes/kubelet.conf",
    "/etc/kubernetes/manifests/kube-apiserver.yaml",
    "/var/lib/kubelet/config.yaml",
)


class KubeadmFiles(HostFact[list[str]]):
    """Which of kubeadm's files exist: any of them means a cluster was set up here (or half set up)."""

    command = "for file in " + " ".join(KUBEADM_FILES) + '; do [ -e "$file" ] && echo "$file"; done; true'
    sudo = True

    def process(self, output: str) -> list[str]:
        return [line.strip() for line in output.splitlines() if line.strip()]


class KubeconfigDigests(HostFact[dict[str, str]]):
    """SHA-256 of admin.conf and of the user's ~/.kube/config, to know whether the copy is current."""

    sudo = True

    def __init__(self, user_kubeconfig: str) -> None:
        self.args = (user_kubeconfig,)

    def command_line(self) -> str:
        return f"sha256sum {ADMIN_CONF} {shlex.quote(self.args[0])} 2>/dev/null; true"

    def process(self, output: str) -> dict[str, str]:
        digests = {}
        for line in output.splitlines():
            digest, _, path = line.partition("  ")
            if path:
                digests[path.strip()] = digest.strip()
        return digests


class ApiServer(KubeFact[dict[str, Any] | None]):
    """Whether the API server answers, and its version; None when there is no kubeconfig to ask with."""

    def default(self) -> dict[str, Any] | None:
        return None

    def query(self, kube: Kube) -> dict[str, Any] | None:
        try:
            kube.readyz()
            return {"reachable": True, "version": kube.status().server_version, "error": None}
        except KubeError as error:
            return {"reachable": False, "version": None, "error": error.message}


class Node(KubeFact[dict[str, Any] | None]):
    """One node as the API reports it (ready, taints, allocatable, labels); None when it is not there."""

    def __init__(self, name: str) -> None:
        self.args = (name,)

    def default(self) -> dict[str, Any] | None:
        return None

    def query(self, kube: Kube) -> dict[str, Any] | None:
        for node in kube.nodes():
            if node.name == self.args[0]:
                return dataclasses.asdict(node)
        return None


class KubeObject(KubeFact[dict[str, Any] | None]):
    """One object by kind, namespace ("" for cluster-wide) and name; None when it does not exist."""

    def __init__(self, kind: str, namespace: str, name: str) -> None:
        self.args = (kind, namespace, name)

    def default(self) -> dict[str, Any] | None:
        return None

    def query(self, kube: Kube) -> dict[str, Any] | None:
        kind, namespace, name = self.args
        return kube.get(kind, name, namespace=namespace or None)


class StorageClasses(KubeFact[dict[str, dict[str, Any]]]):
    """Storage classes by name: provisioner, reclaim policy, default or not."""

    def default(self) -> dict[str, dict[str, Any]]:
        return {}

    def query(self, kube: Kube) -> dict[str, dict[str, Any]]:
        return {item.name: dataclasses.asdict(item) for item in kube.status().storage_classes}


class HelmReleases(HelmFact[dict[str, dict[str, Any]]]):
    """Helm releases in every namespace, by release name."""

    def default(self) -> dict[str, dict[str, Any]]:
        return {}

    def query(self, helm: Helm) -> dict[str, dict[str, Any]]:
        return {release.name: dataclasses.asdict(release) for release in helm.releases()}


class ReleaseValues(HelmFact[dict[str, Any] | None]):
    """The values a release was installed with; None when it is not installed."""

    def __init__(self, name: str, namespace: str) -> None:
        self.args = (name, namespace)

    def default(self) -> dict[str, Any] | None:
        return None

    def query(self, helm: Helm) -> dict[str, Any] | None:
        return helm.values(*self.args)


class Pods(KubeFact[list[dict[str, Any]]]):
    """A namespace's pods with these labels ("key=value,…"): name, phase, ready, reason."""

    def __init__(self, namespace: str, labels: str) -> None:
        self.args = (namespace, labels)

    def default(self) -> list[dict[str, Any]]:
        return []

    def query(self, kube: Kube) -> list[dict[str, Any]]:
        namespace, labels = self.args
        wanted = dict(pair.split("=", 1) for pair in labels.split(","))
        return [dataclasses.asdict(pod) for pod in kube.pods(namespace, wanted)]


class NodeImages(KubeFact[dict[str, list[str]]]):
    """The images each node holds (status.images), by node name: what kubelet can run without a pull."""

    def default(self) -> dict[str, list[str]]:
        return {}

    def query(self, kube: Kube) -> dict[str, list[str]]:
        return kube.node_images()


class Claims(KubeFact[list[dict[str, Any]]]):
    """A namespace's PersistentVolumeClaims: name, namespace, the volume bound to it, storage class, size."""

    def __init__(self, namespace: str) -> None:
        self.args = (namespace,)

    def default(self) -> list[dict[str, Any]]:
        return []

    def query(self, kube: Kube) -> list[dict[str, Any]]:
        return kube.claims(self.args[0])
