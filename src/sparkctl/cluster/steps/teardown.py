"""The steps of `cluster down`: what `cluster up` made goes, in the reverse order, and nothing else.

Workloads are uninstalled before the reset so that their Longhorn volumes detach cleanly. Longhorn
itself and /var/lib/longhorn (every volume, model weights included) stay unless `--purge`.
containerd, the NVIDIA runtime, the CNI plugins and the kernel settings stay: other software uses them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sparkctl.cluster.actions import Action, HelmUninstall, KubeCall, LocalAction, Target, run
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.kubernetes import ADMIN_CONF, ApiServer, HelmReleases, KubeadmFiles, KubeconfigDigests
from sparkctl.cluster.facts.local import HelmBinary, LocalFileExists
from sparkctl.cluster.facts.runtime import AptPackages, HeldPackages, Services
from sparkctl.cluster.facts.system import DirectoryEntries, FileContent, InvokingUser, NetworkInterfaces
from sparkctl.cluster.steps.base import Check, Done, Present, Refused, Step
from sparkctl.cluster.steps.kubernetes import KUBE_KEYRING, KUBE_LIST, KUBE_PACKAGES, KUBEADM_CONFIG
from sparkctl.cluster.steps.network import CNI_CONFIG_DIR, flannel_cni_configs
from sparkctl.cluster.steps.storage import LONGHORN_NAMESPACE, MULTIPATH_BLACKLIST

FLANNEL_INTERFACES = ("cni0", "flannel.1")
LONGHORN_DATA = "/var/lib/longhorn"
KEYRINGS = "/etc/apt/keyrings"
PLATFORM_RELEASES = ("gpu-operator", "longhorn")


def longhorn_deleting_confirmation() -> dict[str, Any]:
    """Longhorn refuses to be uninstalled (its pre-delete job fails) until this setting is true."""
    return {
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "Setting",
        "metadata": {"name": "deleting-confirmation-flag", "namespace": LONGHORN_NAMESPACE},
        "value": "true",
    }


class Releases(Step):
    number = 1
    name = "releases"
    title = "Helm releases, workloads first"
    changes = "cluster"

    def _to_remove(self, facts: Facts) -> list[dict[str, Any]]:
        """Workloads (sparkctl's charts and any other release), then the GPU Operator, then Longhorn if purging."""
        releases = facts.get(HelmReleases())
        kept = () if self.settings.purge else ("longhorn",)
        order = [name for name in sorted(releases) if name not in PLATFORM_RELEASES]
        order += [name for name in PLATFORM_RELEASES if name in releases and name not in kept]
        return [releases[name] for name in order]

    def check(self, facts: Facts) -> Check:
        api = facts.get(ApiServer())
        if not api or not api["reachable"]:
            why = api["error"] if api else "there is no cluster to ask"
            return Done(f"no release can be uninstalled ({why}); the reset stops what still runs")
        if facts.get(HelmBinary()) is None:
            return Done("helm is not on this machine, so no release can be listed; the reset stops what still runs")
        to_remove = self._to_remove(facts)
        if not to_remove:
            left = (
                " (Longhorn stays with its volumes; --purge removes it)"
                if "longhorn" in facts.get(HelmReleases())
                else ""
            )
            return Done(f"no Helm release to uninstall{left}")
        return Present("installed: " + ", ".join(release["name"] for release in to_remove))

    def actions(self, facts: Facts) -> list[Action]:
        actions: list[Action] = []
        for release in self._to_remove(facts):
            if release["name"] == "longhorn":
                actions.append(
                    KubeCall(
                        "server-side apply Longhorn Setting deleting-confirmation-flag=true",
                        lambda kube: kube.apply([longhorn_deleting_confirmation()]),
                    )
                )
            actions.append(HelmUninstall(release["name"], release["namespace"]))
        return actions


class Kubeconfigs(Step):
    """Before the reset: once admin.conf is gone, the user's copy can no longer be told apart from another's."""

    number = 2
    name = "kubeconfigs"
    title = "The cluster's kubeconfigs"

    def _host_copy(self, facts: Facts) -> str | None:
        """The user's ~/.kube/config on the host when it is this cluster's admin kubeconfig."""
        path = f"{facts.get(InvokingUser())['home']}/.kube/config"
        digests = facts.get(KubeconfigDigests(path))
        if path in digests and digests[path] == digests.get(ADMIN_CONF):
            return path
        return None

    def _local_copy(self, facts: Facts) -> Path | None:
        """This machine's fetched copy, ~/.kube/sparkctl-HOST.yaml, when sparkctl runs elsewhere."""
        local = self.settings.kubeconfig
        if self.settings.remote is not None and facts.get(LocalFileExists(str(local))):
            return local
        return None

    def check(self, facts: Facts) -> Check:
        found = [str(path) for path in (self._host_copy(facts), self._local_copy(facts)) if path is not None]
        if found:
            verb = "hold" if len(found) > 1 else "holds"
            return Present(f"{' and '.join(found)} {verb} the cluster's admin kubeconfig")
        return Done("no copy of the cluster's admin kubeconfig (a kubeconfig that differs from it is left alone)")

    def actions(self, facts: Facts) -> list[Action]:
        actions: list[Action] = []
        host_copy = self._host_copy(facts)
        if host_copy is not None:
            actions.append(run("rm", "-f", host_copy))
        local = self._local_copy(facts)
        if local is not None:

            def remove(target: Target) -> None:
                local.unlink(missing_ok=True)

            actions.append(LocalAction(f"remove {local}", remove))
        return actions


class KubeadmReset(Step):
    number = 3
    name = "kubeadm-reset"
    title = "kubeadm reset and the pod network"

    def _leftovers(self, facts: Facts) -> tuple[list[str], list[str], list[str]]:
        interfaces = facts.get(NetworkInterfaces())
        return (
            facts.get(KubeadmFiles()),
            flannel_cni_configs(facts.get(DirectoryEntries(CNI_CONFIG_DIR))),
            [name for name in FLANNEL_INTERFACES if name in interfaces],
        )

    def check(self, facts: Facts) -> Check:
        files, cni, interfaces = self._leftovers(facts)
        if not (files or cni or interfaces):
            return Done("no cluster on this host: no kubeadm files, no pod network")
        if files and "kubeadm" not in facts.get(AptPackages()):
            return Refused(
                "kubeadm's files are here but kubeadm is not installed, so it cannot reset them",
                f"Install kubeadm at the cluster's version ({KUBE_LIST}), then run `sparkctl cluster down` again.",
            )
        found = []
        if files:
            found.append(f"{len(files)} kubeadm file{'s' if len(files) != 1 else ''} ({files[0]}, …)")
        if cni:
            found.append(f"Flannel's CNI configuration {', '.join(cni)}")
        if interfaces:
            found.append(f"interfaces {', '.join(interfaces)}")
        return Present("; ".join(found))

    def actions(self, facts: Facts) -> list[Action]:
        files, cni, interfaces = self._leftovers(facts)
        actions: list[Action] = []
        if files:
            actions.append(run("kubeadm", "reset", "-f"))
        if cni:
            actions.append(run("rm", "-f", *cni))
        actions += [run("ip", "link", "delete", name) for name in interfaces]
        return actions


KUBERNETES_REPO_VERSION = re.compile(r"\d+\.\d+\.\d+-\d+\.\d+")
"""How pkgs.k8s.io versions its packages (1.34.2-1.1); a kubectl from elsewhere (Google Cloud SDK's
1:528.0.0-0, say) belongs to someone else."""


class KubernetesPackagesRemoved(Step):
    number = 4
    name = "kubernetes-packages"
    title = "kubeadm, kubelet and kubectl with their apt repository"

    def _ours(self, facts: Facts) -> list[str]:
        packages = facts.get(AptPackages())
        return [name for name in KUBE_PACKAGES if KUBERNETES_REPO_VERSION.fullmatch(packages.get(name, ""))]

    def _files(self, facts: Facts) -> list[str]:
        keyrings = facts.get(DirectoryEntries(KEYRINGS))
        files = [path for path in (KUBE_LIST, KUBEADM_CONFIG) if facts.get(FileContent(path)) is not None]
        return files + ([KUBE_KEYRING] if KUBE_KEYRING.rsplit("/", 1)[1] in keyrings else [])

    def check(self, facts: Facts) -> Check:
        packages = facts.get(AptPackages())
        ours, files = self._ours(facts), self._files(facts)
        foreign = [f"{name} {packages[name]}" for name in KUBE_PACKAGES if name in packages and name not in ours]
        left = f"; {', '.join(foreign)} is not from the Kubernetes repository and stays" if foreign else ""
        if not ours and not files:
            return Done(f"no Kubernetes package or apt repository (containerd and the NVIDIA runtime stay){left}")
        found = [f"{', '.join(ours)} installed"] if ours else []
        return Present("; ".join(found + files) + left)

    def actions(self, facts: Facts) -> list[Action]:
        ours = self._ours(facts)
        held = [name for name in ours if name in facts.get(HeldPackages())]
        actions: list[Action] = []
        if held:
            actions.append(run("apt-mark", "unhold", *held))
        if ours:
            actions.append(run("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "purge", "-y", *ours))
        files = self._files(facts)
        if files:
            actions.append(run("rm", "-f", *files))
        return actions


class LonghornData(Step):
    number = 5
    name = "longhorn-data"
    title = "Longhorn's data (only with --purge)"

    def check(self, facts: Facts) -> Check:
        entries = facts.get(DirectoryEntries(LONGHORN_DATA))
        blacklist = facts.get(FileContent(MULTIPATH_BLACKLIST)) is not None
        if not self.settings.purge:
            if entries:
                return Done(f"{LONGHORN_DATA} stays: every volume, model weights included (--purge removes it)")
            return Done(f"no Longhorn data under {LONGHORN_DATA}")
        if not entries and not blacklist:
            return Done(f"no Longhorn data under {LONGHORN_DATA}, no multipath rule for it")
        found = [f"{LONGHORN_DATA} ({', '.join(entries)})"] if entries else []
        return Present("; ".join(found + ([MULTIPATH_BLACKLIST] if blacklist else [])))

    def actions(self, facts: Facts) -> list[Action]:
        actions: list[Action] = []
        if facts.get(DirectoryEntries(LONGHORN_DATA)):
            actions.append(run("rm", "-rf", LONGHORN_DATA))
        if facts.get(FileContent(MULTIPATH_BLACKLIST)) is not None:
            actions.append(run("rm", "-f", MULTIPATH_BLACKLIST))
            if facts.get(Services("multipathd"))["multipathd"]["active"] == "active":
                actions.append(run("systemctl", "restart", "multipathd"))
        return actions


TEARDOWN_STEP_TYPES: tuple[type[Step], ...] = (
    Releases,
    Kubeconfigs,
    KubeadmReset,
    KubernetesPackagesRemoved,
    LonghornData,
)
