"""The settings of a cluster command, from models.toml's [platform], the command line and the host spec."""

from __future__ import annotations

from pathlib import Path

from sparkctl.catalog import Catalog
from sparkctl.cluster.kubeconfig import local_kubeconfig_path
from sparkctl.cluster.steps.base import GiB, Settings
from sparkctl.hosts import HostSpec


def cluster_settings(
    catalog: Catalog,
    *,
    host_spec: str | None,
    kubeconfig: Path | None = None,
    gpu_slices: int | None = None,
    min_free_disk_gib: int = 100,
    reset: bool = False,
    purge: bool = False,
) -> Settings:
    remote = HostSpec.parse(host_spec).host if host_spec else None
    platform = catalog.platform
    return Settings(
        kubernetes_version=platform.kubernetes_version,
        pod_cidr=platform.pod_cidr,
        gpu_slices=gpu_slices or platform.gpu_slices,
        min_free_disk=min_free_disk_gib * GiB,
        reset=reset,
        purge=purge,
        remote=remote,
        kubeconfig=local_kubeconfig_path(host_spec, kubeconfig),
    )
