"""Steps 4 to 6: Kubernetes packages at the catalog's minor version, `kubeadm init`, and the kubeconfig."""

from __future__ import annotations

from pathlib import Path

from sparkctl.cluster import pins
from sparkctl.cluster.actions import Action, LocalAction, Shell, Target, WriteFile, run
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.kubernetes import ADMIN_CONF, ApiServer, KubeadmFiles, KubeconfigDigests
from sparkctl.cluster.facts.local import LocalFileExists
from sparkctl.cluster.facts.runtime import AptPackages, HeldPackages, KubeadmVersion
from sparkctl.cluster.facts.system import DirectoryEntries, FileContent, Hostname, InvokingUser
from sparkctl.cluster.kubeconfig import fetch_kubeconfig
from sparkctl.cluster.steps.base import Check, Done, Drifted, Missing, Refused, Step
from sparkctl.cluster.steps.network import CNI_CONFIG_DIR, flannel_cni_configs

KUBE_PACKAGES = ("kubelet", "kubeadm", "kubectl")
KUBE_KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
KUBE_LIST = "/etc/apt/sources.list.d/kubernetes.list"
KUBEADM_CONFIG = "/etc/sparkctl/kubeadm.yaml"
CONTAINERD_SOCKET = "unix:///run/containerd/containerd.sock"


def kubernetes_list(minor: str) -> str:
    return f"deb [signed-by={KUBE_KEYRING}] {pins.KUBERNETES_APT_URL.format(minor=minor)} /\n"


class KubernetesPackages(Step):
    """Installed with --allow-downgrades: a kubectl from elsewhere (Google Cloud SDK's 1:528.0.0-0) sorts above
    pkgs.k8s.io's 1.34.x, and apt refuses to replace it otherwise."""

    number = 4
    name = "kubernetes-packages"
    title = "kubeadm, kubelet and kubectl, held"

    def _wrong_versions(self, facts: Facts) -> dict[str, str]:
        packages = facts.get(AptPackages())
        minor = self.settings.kubernetes_version
        return {
            name: packages.get(name, "not installed")
            for name in KUBE_PACKAGES
            if not packages.get(name, "").startswith(minor + ".")
        }

    def check(self, facts: Facts) -> Check:
        minor = self.settings.kubernetes_version
        wrong = self._wrong_versions(facts)
        unheld = [name for name in KUBE_PACKAGES if name not in facts.get(HeldPackages())]
        if not wrong and not unheld and facts.get(FileContent(KUBE_LIST)) == kubernetes_list(minor):
            return Done(f"{', '.join(KUBE_PACKAGES)} {minor}.x installed and held")
        installed = [name for name in KUBE_PACKAGES if name in facts.get(AptPackages())]
        if installed and wrong and facts.get(KubeadmFiles()):
            found = ", ".join(f"{name} {version}" for name, version in wrong.items())
            return Refused(
                f"a cluster exists here with {found}, not {minor}",
                "Upgrade it with kubeadm upgrade, or set [platform].kubernetes_version to its version in models.toml.",
            )
        if not installed:
            return Missing(f"Kubernetes {minor} packages are not installed")
        problems = [f"{name} is {version}" for name, version in wrong.items()]
        problems += [f"{name} is not held" for name in unheld if name not in wrong]
        if facts.get(FileContent(KUBE_LIST)) != kubernetes_list(minor):
            problems.append(f"the Kubernetes apt repository is not the one for {minor}")
        return Drifted("; ".join(problems))

    def actions(self, facts: Facts) -> list[Action]:
        minor = self.settings.kubernetes_version
        actions: list[Action] = []
        if facts.get(FileContent(KUBE_LIST)) != kubernetes_list(minor):
            release_key = pins.KUBERNETES_APT_URL.format(minor=minor) + "Release.key"
            actions += [
                run("install", "-m", "0755", "-d", "/etc/apt/keyrings"),
                Shell(f"curl -fsSL --retry 3 {release_key} | gpg --dearmor --yes -o {KUBE_KEYRING}"),
                WriteFile(KUBE_LIST, kubernetes_list(minor)),
            ]
        wrong = self._wrong_versions(facts)
        held = facts.get(HeldPackages())
        if wrong:
            if any(name in held for name in KUBE_PACKAGES):
                actions.append(run("apt-mark", "unhold", *KUBE_PACKAGES))
            actions += [
                run("apt-get", "update"),
                run(
                    "env",
                    "DEBIAN_FRONTEND=noninteractive",
                    "apt-get",
                    "install",
                    "-y",
                    "--allow-change-held-packages",
                    "--allow-downgrades",
                    *(f"{name}={minor}.*" for name in KUBE_PACKAGES),
                ),
            ]
        if wrong or any(name not in held for name in KUBE_PACKAGES):
            actions.append(run("apt-mark", "hold", *KUBE_PACKAGES))
        if wrong:
            actions.append(run("systemctl", "enable", "kubelet"))
        return actions


def kubeadm_config(node: str, version: str, pod_cidr: str) -> str:
    """kubeadm's configuration: this node, containerd's socket, the pod network, systemd cgroups."""
    return (
        "apiVersion: kubeadm.k8s.io/v1beta4\n"
        "kind: InitConfiguration\n"
        "nodeRegistration:\n"
        f"  name: {node}\n"
        f"  criSocket: {CONTAINERD_SOCKET}\n"
        "---\n"
        "apiVersion: kubeadm.k8s.io/v1beta4\n"
        "kind: ClusterConfiguration\n"
        f"kubernetesVersion: {version}\n"
        "networking:\n"
        f"  podSubnet: {pod_cidr}\n"
        "---\n"
        "apiVersion: kubelet.config.k8s.io/v1beta1\n"
        "kind: KubeletConfiguration\n"
        "cgroupDriver: systemd\n"
    )


class KubeadmInit(Step):
    number = 5
    name = "kubeadm-init"
    title = "kubeadm init (only when there is no cluster)"

    def check(self, facts: Facts) -> Check:
        files = facts.get(KubeadmFiles())
        if not files:
            return Missing("no cluster on this host")
        api = facts.get(ApiServer())
        if ADMIN_CONF in files and api and api["reachable"]:
            if self.settings.reset:
                return Drifted(f"--reset: the cluster ({api['version']}) will be reset and created again")
            return Done(f"cluster {api['version']} is up and its API answers")
        why = api["error"] if api else "the API server cannot be asked (no kubeconfig for it)"
        if ADMIN_CONF not in files:
            why = "kubeadm's files are only partly there: " + ", ".join(files)
        if self.settings.reset:
            return Drifted(f"--reset: the unhealthy cluster will be reset and created again ({why})")
        return Refused(
            f"a cluster exists on this host but is unhealthy: {why}",
            "See `sparkctl cluster status` and kubelet's log (journalctl -u kubelet). To rebuild it, losing its "
            "workloads and etcd data, run `sparkctl cluster up --reset`.",
        )

    def actions(self, facts: Facts) -> list[Action]:
        actions: list[Action] = []
        if facts.get(KubeadmFiles()):
            actions.append(run("kubeadm", "reset", "-f"))
            if flannel := flannel_cni_configs(facts.get(DirectoryEntries(CNI_CONFIG_DIR))):
                actions.append(run("rm", "-f", *flannel))
        version = facts.get(KubeadmVersion()) or f"stable-{self.settings.kubernetes_version}"
        config = kubeadm_config(facts.get(Hostname()), version, self.settings.pod_cidr)
        return [*actions, WriteFile(KUBEADM_CONFIG, config), run("kubeadm", "init", "--config", KUBEADM_CONFIG)]


class Kubeconfig(Step):
    number = 6
    name = "kubeconfig"
    title = "kubeconfig for the user on the host, and for this machine"

    def _user_kubeconfig(self, facts: Facts) -> str:
        return f"{facts.get(InvokingUser())['home']}/.kube/config"

    def _problems(self, facts: Facts) -> list[str]:
        problems = []
        digests = facts.get(KubeconfigDigests(self._user_kubeconfig(facts)))
        if ADMIN_CONF not in digests:
            return [f"{ADMIN_CONF} does not exist yet"]
        if digests.get(self._user_kubeconfig(facts)) != digests[ADMIN_CONF]:
            problems.append(f"{self._user_kubeconfig(facts)} is not the cluster's admin kubeconfig")
        if self.settings.remote is not None and not facts.get(LocalFileExists(str(self.settings.kubeconfig))):
            problems.append(f"{self.settings.kubeconfig} is missing on this machine")
        return problems

    def check(self, facts: Facts) -> Check:
        problems = self._problems(facts)
        if not problems:
            where = f" and {self.settings.kubeconfig} here" if self.settings.remote else ""
            return Done(
                f"{self._user_kubeconfig(facts)} on the host{where} hold{'' if where else 's'} the admin kubeconfig"
            )
        return (Missing if ADMIN_CONF not in facts.get(KubeconfigDigests(self._user_kubeconfig(facts))) else Drifted)(
            "; ".join(problems)
        )

    def actions(self, facts: Facts) -> list[Action]:
        user = facts.get(InvokingUser())
        target = self._user_kubeconfig(facts)
        actions: list[Action] = [
            run("install", "-d", "-m", "0700", "-o", user["name"], "-g", user["group"], f"{user['home']}/.kube"),
            run("install", "-m", "0600", "-o", user["name"], "-g", user["group"], ADMIN_CONF, target),
        ]
        if self.settings.remote is not None:
            local = Path(self.settings.kubeconfig)
            remote = self.settings.remote

            def fetch(target: Target) -> None:
                fetch_kubeconfig(target.host, remote, local)

            actions.append(LocalAction(f"fetch {ADMIN_CONF} to {local}, server https://{remote}:6443", fetch))
        return actions
