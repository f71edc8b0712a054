"""Steps 9 and 11: the GPU Operator with time-slicing, and a check that two pods really share the GPU."""

from __future__ import annotations

from typing import Any

import yaml

from sparkctl.cluster import containerd_config, pins
from sparkctl.cluster.actions import Action, HelmRelease, KubeCall
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.kubernetes import ApiServer, HelmReleases, KubeObject, Node
from sparkctl.cluster.facts.runtime import NvidiaCtkVersion
from sparkctl.cluster.facts.system import FileContent, Hostname
from sparkctl.cluster.steps.base import Check, Done, Drifted, Missing, Refused, Step, release_drift
from sparkctl.errors import SparkctlError

GPU_OPERATOR_NAMESPACE = "gpu-operator"
TIME_SLICING_CONFIGMAP = "time-slicing-config"
GPU_RESOURCE = "nvidia.com/gpu"
PRIVILEGED = {"pod-security.kubernetes.io/enforce": "privileged"}
ALLOCATABLE_TIMEOUT = 600.0
GPU_CHECK_LABEL = "sparkctl.dev/gpu-sharing-verified"
GPU_CHECK_NAMESPACE = "default"
GPU_CHECK_TIMEOUT = 300.0


def time_slicing_config(replicas: int) -> str:
    """The device plugin's config: every GPU advertised as `replicas` time-sliced GPUs, no MIG."""
    config = {
        "version": "v1",
        "flags": {"migStrategy": "none"},
        "sharing": {"timeSlicing": {"resources": [{"name": GPU_RESOURCE, "replicas": replicas}]}},
    }
    return yaml.safe_dump(config, sort_keys=False)


def time_slicing_configmap(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": TIME_SLICING_CONFIGMAP, "namespace": GPU_OPERATOR_NAMESPACE},
        "data": {"any": time_slicing_config(replicas)},
    }


def gpu_operator_values(toolkit: bool) -> dict[str, Any]:
    """The driver is the host's (DGX OS ships it). The toolkit only when containerd lacks the NVIDIA runtime and
    step 3 cannot configure it (no nvidia-ctk on the host)."""
    return {
        "driver": {"enabled": False},
        "toolkit": {"enabled": toolkit},
        "mig": {"strategy": "none"},
        "migManager": {"enabled": False},
        "devicePlugin": {"config": {"name": TIME_SLICING_CONFIGMAP, "default": "any"}},
    }


def configured_slices(configmap: dict[str, Any] | None) -> int | None:
    if not configmap:
        return None
    try:
        config = yaml.safe_load(configmap.get("data", {}).get("any", "")) or {}
        return int(config["sharing"]["timeSlicing"]["resources"][0]["replicas"])
    except (yaml.YAMLError, KeyError, IndexError, TypeError, ValueError):
        return None


def allocatable_gpus(node: dict[str, Any] | None) -> int:
    value = (node or {}).get("allocatable", {}).get(GPU_RESOURCE, "0")
    return int(value) if str(value).isdigit() else 0


class GpuOperator(Step):
    number = 9
    name = "gpu-operator"
    title = "NVIDIA GPU Operator with time-slicing"
    changes = "cluster"

    def check(self, facts: Facts) -> Check:
        version = self.settings.gpu_operator_version
        if pins.Version.parse(version) < pins.Version.parse(pins.GPU_OPERATOR_MINIMUM):
            return Refused(
                f"GPU Operator {version} is older than {pins.GPU_OPERATOR_MINIMUM}: its device plugin crashes on the "
                'GB10 ("error getting device memory: Not Supported", NVIDIA/gpu-operator#1794)',
                f"Pin {pins.GPU_OPERATOR_MINIMUM} or newer (the default is {pins.GPU_OPERATOR_VERSION}).",
            )
        api = facts.get(ApiServer())
        if not api or not api["reachable"]:
            return Missing("the GPU Operator goes on once the cluster's API answers")
        release = facts.get(HelmReleases()).get("gpu-operator")
        if release is None:
            return Missing("the GPU Operator is not installed")
        drift = release_drift(release, version)
        problems = [drift] if drift else []
        configmap = facts.get(KubeObject("ConfigMap", GPU_OPERATOR_NAMESPACE, TIME_SLICING_CONFIGMAP))
        slices = self.settings.gpu_slices
        if configured_slices(configmap) != slices:
            problems.append(f"time-slicing gives {configured_slices(configmap) or 'no'} replicas, want {slices}")
        gpus = allocatable_gpus(facts.get(Node(facts.get(Hostname()))))
        if gpus != slices:
            problems.append(f"the node advertises {gpus} {GPU_RESOURCE}, want {slices}")
        if problems:
            return Drifted("; ".join(problems))
        return Done(f"GPU Operator {version}; the node advertises {slices} time-sliced GPUs")

    def actions(self, facts: Facts) -> list[Action]:
        slices = self.settings.gpu_slices
        node = facts.get(Hostname())
        config = facts.get(FileContent(containerd_config.CONFIG_PATH))
        drop_in = facts.get(FileContent(containerd_config.NVIDIA_DROP_IN))
        toolkit = not containerd_config.has_nvidia_runtime(config, drop_in) and not facts.get(NvidiaCtkVersion())
        configmap = time_slicing_configmap(slices)
        return [
            KubeCall(
                f"label namespace {GPU_OPERATOR_NAMESPACE} pod-security.kubernetes.io/enforce=privileged",
                lambda kube: kube.label_namespace(GPU_OPERATOR_NAMESPACE, PRIVILEGED),
            ),
            KubeCall(
                f"server-side apply ConfigMap {GPU_OPERATOR_NAMESPACE}/{TIME_SLICING_CONFIGMAP} "
                f"(any: {slices} replicas of {GPU_RESOURCE}, migStrategy none)",
                lambda kube: kube.apply([configmap]),
            ),
            HelmRelease(
                release="gpu-operator",
                chart=pins.GPU_OPERATOR_CHART,
                repo=pins.GPU_OPERATOR_REPO,
                version=self.settings.gpu_operator_version,
                namespace=GPU_OPERATOR_NAMESPACE,
                values=gpu_operator_values(toolkit),
            ),
            KubeCall(
                f"wait until node {node} advertises {slices} {GPU_RESOURCE} (timeout {ALLOCATABLE_TIMEOUT:g} s)",
                lambda kube: kube.wait_allocatable(node, GPU_RESOURCE, slices, timeout=ALLOCATABLE_TIMEOUT),
            ),
        ]


def gpu_check_pods(count: int = 2) -> list[dict[str, Any]]:
    """Pods that each take one GPU slice and list the GPU they see."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"sparkctl-gpu-check-{index}", "labels": {"app.kubernetes.io/name": "gpu-check"}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "nvidia-smi",
                        "image": pins.GPU_CHECK_IMAGE,
                        "command": ["nvidia-smi", "-L"],
                        "resources": {"limits": {GPU_RESOURCE: 1, "memory": "256Mi"}},
                    }
                ],
            },
        }
        for index in range(1, count + 1)
    ]


class GpuSharingFailed(SparkctlError):
    """The two GPU pods did not both succeed."""


def run_gpu_check(kube: Any, node: str, slices: int) -> None:
    """Two pods at once on the shared GPU; both must succeed. The node is labelled when they do."""
    outcomes = kube.run_pods_check(GPU_CHECK_NAMESPACE, gpu_check_pods(), timeout=GPU_CHECK_TIMEOUT)
    failed = [outcome for outcome in outcomes if outcome.phase != "Succeeded"]
    if failed:
        said = "; ".join(
            f"{outcome.name}: {outcome.phase} {outcome.reason} {outcome.log.strip()}" for outcome in failed
        )
        raise GpuSharingFailed(
            f"the GPU sharing check failed: {said}",
            hint="Check the device plugin's pods in gpu-operator and the node's allocatable nvidia.com/gpu.",
        )
    kube.apply(
        [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "labels": {GPU_CHECK_LABEL: str(slices)}}}]
    )


class GpuSharingCheck(Step):
    number = 11
    name = "gpu-check"
    title = "GPU sharing check: two pods on one GPU at once"
    changes = "cluster"

    def check(self, facts: Facts) -> Check:
        api = facts.get(ApiServer())
        if not api or not api["reachable"]:
            return Missing("the check runs once the cluster's API answers")
        node = facts.get(Node(facts.get(Hostname())))
        slices = self.settings.gpu_slices
        if node is not None and node["labels"].get(GPU_CHECK_LABEL) == str(slices):
            return Done(f"two pods shared the GPU with {slices} slices (node label {GPU_CHECK_LABEL})")
        return Missing(f"not yet checked with {slices} slices")

    def actions(self, facts: Facts) -> list[Action]:
        node = facts.get(Hostname())
        slices = self.settings.gpu_slices
        return [
            KubeCall(
                f"run 2 pods requesting {GPU_RESOURCE}: 1 each ({pins.GPU_CHECK_IMAGE}, nvidia-smi -L) at once in "
                f"namespace {GPU_CHECK_NAMESPACE}; pass when both succeed; delete them; label node {node} "
                f"{GPU_CHECK_LABEL}={slices}",
                lambda kube: run_gpu_check(kube, node, slices),
            )
        ]
