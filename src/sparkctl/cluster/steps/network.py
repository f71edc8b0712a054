"""Steps 7 and 8: the pod network (Flannel) with the node ready for workloads, and Helm here."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sparkctl.cluster import pins
from sparkctl.cluster.actions import Action, KubeCall, LocalAction, Target
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.kubernetes import ApiServer, KubeObject, Node
from sparkctl.cluster.facts.local import HelmBinary, LocalMachine
from sparkctl.cluster.facts.system import Hostname
from sparkctl.cluster.steps.base import Check, Done, Drifted, Missing, Step

CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"
NODE_READY_TIMEOUT = 300.0
CNI_CONFIG_DIR = "/etc/cni/net.d"


def flannel_cni_configs(entries: list[str]) -> list[str]:
    """Flannel's files among /etc/cni/net.d's entries. Only these go: podman or buildah keep theirs there too."""
    return [f"{CNI_CONFIG_DIR}/{entry}" for entry in entries if "flannel" in entry]


def flannel_manifests(pod_cidr: str) -> list[dict[str, Any]]:
    """The pinned Flannel manifest, with its pod network set to `pod_cidr`."""
    text = resources.files("sparkctl.cluster").joinpath("manifests/kube-flannel.yml").read_text(encoding="utf-8")
    manifests = [document for document in yaml.safe_load_all(text) if document]
    for manifest in manifests:
        if manifest["kind"] == "ConfigMap" and "net-conf.json" in manifest.get("data", {}):
            net_conf = json.loads(manifest["data"]["net-conf.json"])
            net_conf["Network"] = pod_cidr
            manifest["data"]["net-conf.json"] = json.dumps(net_conf, indent=2) + "\n"
    return manifests


def _image_tag(daemonset: dict[str, Any] | None) -> str | None:
    if not daemonset:
        return None
    containers = daemonset.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    image = containers[0].get("image", "") if containers else ""
    return image.rsplit(":", 1)[-1] if ":" in image else None


class Flannel(Step):
    number = 7
    name = "flannel"
    title = "Flannel pod network, control-plane taint removed, node Ready"
    changes = "cluster"

    def _node(self, facts: Facts) -> str:
        return facts.get(Hostname())

    def check(self, facts: Facts) -> Check:
        api = facts.get(ApiServer())
        if not api or not api["reachable"]:
            return Missing("Flannel goes on once the cluster's API answers")
        tag = _image_tag(facts.get(KubeObject("DaemonSet", "kube-flannel", "kube-flannel-ds")))
        node = facts.get(Node(self._node(facts)))
        problems = []
        if tag != pins.FLANNEL_VERSION:
            problems.append(f"Flannel {tag or 'is not installed'}" + (f" (want {pins.FLANNEL_VERSION})" if tag else ""))
        if node is None:
            problems.append(f"node {self._node(facts)} is not registered")
        else:
            if any(taint.startswith(CONTROL_PLANE_TAINT + ":") for taint in node["taints"]):
                problems.append("the control-plane taint keeps workloads off the node")
            if not node["ready"]:
                problems.append(f"node {node['name']} is not Ready: {node['reason']}")
        if not problems:
            return Done(f"Flannel {pins.FLANNEL_VERSION}; node {self._node(facts)} Ready and schedulable")
        return (Missing if tag is None else Drifted)("; ".join(problems))

    def actions(self, facts: Facts) -> list[Action]:
        node = self._node(facts)
        manifests = flannel_manifests(self.settings.pod_cidr)
        return [
            KubeCall(
                f"server-side apply kube-flannel.yml (Flannel {pins.FLANNEL_VERSION}, {len(manifests)} objects, "
                f"pod network {self.settings.pod_cidr})",
                lambda kube: kube.apply(manifests),
            ),
            KubeCall(
                f"remove taint {CONTROL_PLANE_TAINT}:NoSchedule from node {node}",
                lambda kube: kube.remove_taint(node, CONTROL_PLANE_TAINT, "NoSchedule"),
            ),
            KubeCall(
                f"wait until node {node} is Ready (timeout {NODE_READY_TIMEOUT:g} s)",
                lambda kube: kube.wait_node_ready(node, timeout=NODE_READY_TIMEOUT),
            ),
        ]


class HelmInstall(Step):
    number = 8
    name = "helm"
    title = "Helm on the machine that runs sparkctl"
    changes = "local"

    def check(self, facts: Facts) -> Check:
        found = facts.get(HelmBinary())
        if found:
            return Done(f"helm at {found}")
        return Missing("helm is not installed on this machine")

    def actions(self, facts: Facts) -> list[Action]:
        from sparkctl.helm_install import helm_download

        download = helm_download(facts.get(LocalMachine()))
        directory = Path(self.settings.helm_dir)

        def install(target: Target) -> None:
            from sparkctl.helm_install import install_helm

            install_helm(download, directory)

        return [
            LocalAction(
                f"download helm {download.version} (linux-{download.arch}, sha256 {download.sha256[:12]}…) "
                f"to {directory / 'helm'}",
                install,
            )
        ]
