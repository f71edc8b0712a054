"""The steps of `cluster up`, `cluster down` and `cluster join`, in order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparkctl.cluster.steps.base import Check, Done, Drifted, Missing, Present, Refused, Settings, Step
from sparkctl.cluster.steps.gpu import GpuOperator, GpuSharingCheck
from sparkctl.cluster.steps.join import KubeadmJoin, LonghornNode, WorkerGpuSlices
from sparkctl.cluster.steps.kernel import Kernel
from sparkctl.cluster.steps.kubernetes import KubeadmInit, Kubeconfig, KubernetesPackages
from sparkctl.cluster.steps.network import Flannel, HelmInstall
from sparkctl.cluster.steps.preflight import Preflight
from sparkctl.cluster.steps.runtime import Runtime
from sparkctl.cluster.steps.storage import Longhorn
from sparkctl.cluster.steps.teardown import TEARDOWN_STEP_TYPES

if TYPE_CHECKING:
    from sparkctl.hosts import Host

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

HOST_PREREQUISITES: tuple[type[Step], ...] = (Preflight, Kernel, Runtime, KubernetesPackages)
"""What every node needs before kubeadm: the first four steps of `cluster up`."""


def cluster_steps(settings: Settings) -> list[Step]:
    return [step_type(settings) for step_type in STEP_TYPES]


def teardown_steps(settings: Settings) -> list[Step]:
    return [step_type(settings) for step_type in TEARDOWN_STEP_TYPES]


def join_steps(settings: Settings, control_plane: Host) -> list[Step]:
    """The worker's prerequisites, then the join through `control_plane` and the worker's GPU slices."""
    prerequisites = [step_type(settings) for step_type in HOST_PREREQUISITES]
    return [*prerequisites, LonghornNode(settings), KubeadmJoin(settings, control_plane), WorkerGpuSlices(settings)]


__all__ = [
    "STEP_TYPES",
    "Check",
    "Done",
    "Drifted",
    "Missing",
    "Present",
    "Refused",
    "Settings",
    "Step",
    "cluster_steps",
    "join_steps",
    "teardown_steps",
]
