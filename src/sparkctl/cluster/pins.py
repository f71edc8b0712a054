"""Pinned versions and checksums of everything `cluster up` downloads, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from sparkctl.errors import ConfigError

CNI_PLUGINS_VERSION = "v1.9.1"
CNI_PLUGINS_SHA256 = {
    "arm64": "56171987d3947707c3563db2f4001bccaf50fd63468611b9f3cbecb1375ee7ec",
    "amd64": "b98f74a0f8522f0a83867178729c1aa70f2158f90c45a2ca8fa791db1c76b303",
}
"""From the plugins' release page (sha256 of cni-plugins-linux-ARCH-VERSION.tgz)."""

FLANNEL_VERSION = "v0.28.9"
"""The manifest shipped in sparkctl/cluster/manifests/kube-flannel.yml (multi-arch images)."""

GPU_OPERATOR_CHART = "gpu-operator"
GPU_OPERATOR_REPO = "https://helm.ngc.nvidia.com/nvidia"
GPU_OPERATOR_VERSION = "v25.10.0"
GPU_OPERATOR_MINIMUM = "v25.10.0"
"""Older device plugins crash on the GB10 ("error getting device memory: Not Supported")."""

LONGHORN_CHART = "longhorn"
LONGHORN_REPO = "https://charts.longhorn.io"
LONGHORN_VERSION = "1.10.1"

GPU_CHECK_IMAGE = "nvcr.io/nvidia/cuda:13.0.1-base-ubuntu24.04"
"""Multi-arch (arm64 included); the NVIDIA runtime mounts nvidia-smi into it."""

DOCKER_APT_KEY_URL = "https://download.docker.com/linux/ubuntu/gpg"
KUBERNETES_APT_URL = "https://pkgs.k8s.io/core:/stable:/v{minor}/deb/"


@dataclass(frozen=True, order=True)
class Version:
    """A dotted version such as v25.10.0, compared number by number."""

    parts: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> Version:
        numbers = text.strip().lstrip("v").split("-", 1)[0].split(".")
        if not numbers or not all(number.isdigit() for number in numbers):
            raise ConfigError(f"{text!r} is not a version", hint="Write a version such as v25.10.0.")
        return cls(tuple(int(number) for number in numbers))


def debian_arch(machine: str) -> str:
    """`uname -m` to Debian's and Go's architecture names."""
    names = {"aarch64": "arm64", "arm64": "arm64", "x86_64": "amd64", "amd64": "amd64"}
    if machine not in names:
        raise ConfigError(
            f"architecture {machine!r} is not supported", hint="sparkctl supports aarch64 (the Spark) and x86_64."
        )
    return names[machine]
