"""The steps of `cluster up`, in order."""

from __future__ import annotations

from sparkctl.cluster.steps.base import Check, Done, Drifted, Missing, Refused, Settings, Step
from sparkctl.cluster.steps.gpu import GpuOperator, GpuSharingCheck
from sparkctl.cluster.steps.kernel import Kernel
from sparkctl.cluster.steps.kubernetes import KubeadmInit, Kubeconfig, KubernetesPackages
from sparkctl.cluster.steps.network import Flannel, HelmInstall
from sparkctl.cluster.steps.preflight import Preflight
from sparkctl.cluster.steps.runtime import Runtime
from sparkctl.cluster.steps.storage import Longhorn

STEP_TYPES: tuple[type[Step], ...] = (
    Preflight,
    Kernel,
    Runtime,
    KubernetesPackages,
    KubeadmInit,
    Kubeconfig,
    Flannel,
    HelmInstall,
    GpuOperator,
    Longhorn,
    GpuSharingCheck,
)


def cluster_steps(settings: Settings) -> list[Step]:
    return [step_type(settings) for step_type in STEP_TYPES]


__all__ = ["STEP_TYPES", "Check", "Done", "Drifted", "Missing", "Refused", "Settings", "Step", "cluster_steps"]
