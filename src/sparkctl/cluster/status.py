"""What `sparkctl cluster status` reports: nodes, versions, GPU slices against the catalog, storage, releases."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from sparkctl.catalog import Catalog
from sparkctl.cluster.kubeconfig import local_kubeconfig_path, open_cluster
from sparkctl.cluster.steps.gpu import GPU_RESOURCE


def cluster_status(catalog: Catalog, host_spec: str | None, kubeconfig: Path | None) -> dict[str, Any]:
    from sparkctl.helm import Helm
    from sparkctl.helm_install import find_helm

    path = local_kubeconfig_path(host_spec, kubeconfig)
    with open_cluster(host_spec, kubeconfig) as kube:
        status = kube.status()
        server = kube.server
    helm = find_helm()
    releases = [dataclasses.asdict(release) for release in Helm(helm, path).releases()] if helm else []
    return {
        "server": server,
        "server_version": status.server_version,
        "gpu_slices": catalog.platform.gpu_slices,
        "nodes": [
            {**dataclasses.asdict(node), "gpus": int(node.allocatable.get(GPU_RESOURCE, "0") or 0)}
            for node in status.nodes
        ],
        "storage_classes": [dataclasses.asdict(item) for item in status.storage_classes],
        "releases": releases,
        "pods_not_ready": [dataclasses.asdict(pod) for pod in status.unready_pods],
    }
