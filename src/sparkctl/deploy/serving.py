"""What `serve status` reports: each serving model's pods, its address in the cluster and on the host."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sparkctl.catalog import Catalog, Model
from sparkctl.deploy.values import server_url, serving_models

if TYPE_CHECKING:
    from sparkctl.kube import Kube

MODEL_SERVER = {"app.kubernetes.io/component": "model-server"}


def model_labels(model: Model) -> dict[str, str]:
    return {**MODEL_SERVER, "app.kubernetes.io/name": model.name}


def node_url(server: str, node_port: int, path: str = "") -> str:
    """A NodePort on the host whose API server `server` is (one node: the same machine)."""
    host = urlsplit(server).hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{node_port}{path}"


def host_url(model: Model, server: str) -> str | None:
    """The model's NodePort on the host, when it has one."""
    if model.node_port is None:
        return None
    return node_url(server, model.node_port, "/v1" if model.backend == "vllm" else "")


def model_status(kube: Kube, model: Model) -> dict[str, Any]:
    pods = kube.pods(model.namespace, model_labels(model))
    ready = any(pod.ready for pod in pods)
    reason = "" if ready else (f"{pods[-1].phase} {pods[-1].reason}".strip() if pods else "no pod")
    return {
        "name": model.name,
        "namespace": model.namespace,
        "backend": model.backend,
        "ready": ready,
        "reason": reason,
        "cluster_url": server_url(model),
        "host_url": host_url(model, kube.server),
        "gpu_slices": model.gpu_slices,
        "names": list(model.routing_names()),
    }


def serving_status(kube: Kube, catalog: Catalog) -> dict[str, Any]:
    return {"server": kube.server, "models": [model_status(kube, model) for model in serving_models(catalog)]}
