"""The steps of `cluster join HOST` after the host's prerequisites: Longhorn's multipath rule, `kubeadm join`
with a short-lived token from the control plane (masked everywhere), and the new node's GPU slices.

The facts of these steps mix two machines: host facts are the worker's, cluster facts come from the
control plane's API.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sparkctl.cluster.actions import Action, KubeCall, Secret, Target, masked
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.kubernetes import ADMIN_CONF, ApiServer, HelmReleases, KubeadmFiles, KubeObject, Node
from sparkctl.cluster.facts.system import FileContent, Hostname
from sparkctl.cluster.steps.base import Check, Done, Drifted, Missing, Refused, Settings, Step
from sparkctl.cluster.steps.gpu import (
    ALLOCATABLE_TIMEOUT,
    GPU_OPERATOR_NAMESPACE,
    GPU_RESOURCE,
    TIME_SLICING_CONFIGMAP,
    allocatable_gpus,
    configured_slices,
)
from sparkctl.cluster.steps.kubernetes import CONTAINERD_SOCKET
from sparkctl.cluster.steps.network import NODE_READY_TIMEOUT
from sparkctl.cluster.steps.storage import MULTIPATH_BLACKLIST, multipath_actions, multipath_blacklist
from sparkctl.errors import HostError

if TYPE_CHECKING:
    from sparkctl.hosts import Host

JOIN_TOKEN_TTL = "15m"
TOKEN_CREATE = ("kubeadm", "token", "create", "--ttl", JOIN_TOKEN_TTL, "--print-join-command")
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"


@dataclass(frozen=True)
class JoinCommand:
    """What `kubeadm token create --print-join-command` printed: the API endpoint, the token, the CA pins."""

    endpoint: str
    token: Secret
    ca_hashes: tuple[str, ...]

    @classmethod
    def parse(cls, output: str) -> JoinCommand:
        """Parse kubeadm's one line; HostError (with the token never quoted) when it is not one."""
        try:
            words = shlex.split(output.replace("\\\n", " "))
        except ValueError:
            words = []
        tokens = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--token"]
        hashes = tuple(words[i + 1] for i, word in enumerate(words[:-1]) if word == "--discovery-token-ca-cert-hash")
        if words[:2] != ["kubeadm", "join"] or len(words) < 3 or len(tokens) != 1 or not hashes:
            raise HostError(
                "the control plane's `kubeadm token create --print-join-command` did not print a join command",
                hint="Run it by hand on the control plane; kubeadm must be the cluster's version.",
            )
        return cls(endpoint=words[2], token=Secret(tokens[0]), ca_hashes=hashes)

    def argv(self, node: str) -> tuple[str | Secret, ...]:
        pins = [arg for digest in self.ca_hashes for arg in ("--discovery-token-ca-cert-hash", digest)]
        return (
            "kubeadm",
            "join",
            self.endpoint,
            "--token",
            self.token,
            *pins,
            "--cri-socket",
            CONTAINERD_SOCKET,
            "--node-name",
            node,
        )


@dataclass(frozen=True)
class KubeadmJoinWithToken:
    """On the control plane, a join token valid for 15 minutes; with it, `kubeadm join` on the worker.

    The control plane's output holds the token, so it is never streamed or logged.
    """

    control_plane: Host = field(compare=False)
    node: str

    def render(self) -> str:
        return (
            f"on {self.control_plane.name}: {shlex.join(TOKEN_CREATE)}; then here: kubeadm join <its endpoint> "
            f"--token {Secret('')} --discovery-token-ca-cert-hash <its CA hash> --cri-socket {CONTAINERD_SOCKET} "
            f"--node-name {self.node}"
        )

    def execute(self, target: Target) -> None:
        printed = self.control_plane.run(list(TOKEN_CREATE), sudo=True, timeout=60)
        join = JoinCommand.parse(printed.stdout)
        argv = [arg.value if isinstance(arg, Secret) else arg for arg in join.argv(self.node)]
        with masked([join.token]):
            target.host.run(argv, sudo=True, timeout=600, on_output=target.on_output)


class LonghornNode(Step):
    number = 5
    name = "longhorn-node"
    title = "Multipath rule for Longhorn's devices"

    def check(self, facts: Facts) -> Check:
        current = facts.get(FileContent(MULTIPATH_BLACKLIST))
        if current == multipath_blacklist():
            return Done(f"{MULTIPATH_BLACKLIST} keeps multipathd off Longhorn's devices")
        return (Missing if current is None else Drifted)("multipathd may claim Longhorn's devices")

    def actions(self, facts: Facts) -> list[Action]:
        return multipath_actions(facts)


class KubeadmJoin(Step):
    number = 6
    name = "kubeadm-join"
    title = "kubeadm join as a worker"

    def __init__(self, settings: Settings, control_plane: Host) -> None:
        super().__init__(settings)
        self.control_plane = control_plane

    def check(self, facts: Facts) -> Check:
        api = facts.get(ApiServer())
        where = self.control_plane.name
        if not api or not api["reachable"]:
            return Refused(
                f"the cluster's API on {where} does not answer: {api['error'] if api else 'there is no cluster'}",
                f"Run `sparkctl --host {where} cluster up` first, then `sparkctl cluster status` to see it healthy.",
            )
        minor = self.settings.kubernetes_version
        if not str(api["version"]).lstrip("v").startswith(minor + "."):
            return Refused(
                f"the cluster runs Kubernetes {api['version']}, not {minor}",
                "Set [platform].kubernetes_version in models.toml to the cluster's minor version, so that the "
                "worker gets the same kubelet.",
            )
        node = facts.get(Hostname())
        files = facts.get(KubeadmFiles())
        registered = facts.get(Node(node))
        if ADMIN_CONF in files:
            return Refused(
                f"{node} runs a control plane of its own",
                f"Remove that cluster first with `sparkctl --host {node} cluster down`, or join another machine.",
            )
        if registered is not None and KUBELET_CONF in files:
            if registered["ready"]:
                return Done(f"{node} is a Ready node of the cluster on {where}")
            return Drifted(f"{node} joined but is not Ready: {registered['reason']}")
        if files:
            return Refused(
                f"{node} has kubeadm's files ({', '.join(files)}) but is not a node of the cluster on {where}",
                f"It belongs to another cluster or a join stopped halfway: run `sparkctl --host {node} cluster down`, "
                "then join it again.",
            )
        if registered is not None:
            return Refused(
                f"the cluster already has a node named {node}",
                "Node names must be unique: give this machine another host name, or delete the old node "
                f"(kubectl delete node {node}) if it is gone.",
            )
        return Missing(f"{node} is not a node of the cluster on {where}")

    def actions(self, facts: Facts) -> list[Action]:
        node = facts.get(Hostname())
        actions: list[Action] = []
        if facts.get(Node(node)) is None:
            actions.append(KubeadmJoinWithToken(self.control_plane, node))
        actions.append(
            KubeCall(
                f"wait until node {node} is Ready (timeout {NODE_READY_TIMEOUT:g} s)",
                lambda kube: kube.wait_node_ready(node, timeout=NODE_READY_TIMEOUT),
            )
        )
        return actions


class WorkerGpuSlices(Step):
    number = 7
    name = "gpu-slices"
    title = "GPU slices on the worker"
    changes = "cluster"

    def _slices(self, facts: Facts) -> int | None:
        return configured_slices(facts.get(KubeObject("ConfigMap", GPU_OPERATOR_NAMESPACE, TIME_SLICING_CONFIGMAP)))

    def check(self, facts: Facts) -> Check:
        if "gpu-operator" not in facts.get(HelmReleases()) or self._slices(facts) is None:
            return Refused(
                "the cluster has no GPU Operator with a time-slicing configuration",
                "Run `sparkctl cluster up` against the control plane first: its step 9 installs it.",
            )
        node = facts.get(Hostname())
        slices = self._slices(facts)
        advertised = allocatable_gpus(facts.get(Node(node)))
        if advertised == slices:
            return Done(f"{node} advertises {slices} time-sliced GPUs")
        return Missing(f"{node} advertises {advertised} of {slices} time-sliced GPUs")

    def actions(self, facts: Facts) -> list[Action]:
        node = facts.get(Hostname())
        slices = self._slices(facts) or 0
        return [
            KubeCall(
                f"wait until node {node} advertises {slices} {GPU_RESOURCE} (timeout {ALLOCATABLE_TIMEOUT:g} s)",
                lambda kube: kube.wait_allocatable(node, GPU_RESOURCE, slices, timeout=ALLOCATABLE_TIMEOUT),
            )
        ]
