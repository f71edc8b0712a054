"""What `graphrag status` reports: each part of the stack, ready or not, where it answers, and where its API
key is (never the key itself)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sparkctl.catalog import Catalog
from sparkctl.deploy.serving import host_url, node_url
from sparkctl.deploy.steps import GraphragDeploy, Workload
from sparkctl.deploy.values import COMPONENTS, CREDENTIALS_SECRET, GRAPHRAG_NAMESPACE, server_url

if TYPE_CHECKING:
    from sparkctl.kube import Kube

API_KEY_COMMAND = (
    f"kubectl -n {GRAPHRAG_NAMESPACE} get secret {CREDENTIALS_SECRET} -o jsonpath='{{.data.api-keys}}' | base64 -d"
)


SCHEMES = {"neo4j": "neo4j", "postgres": "postgresql", "redis": "redis", "nats": "nats"}


def _urls(workload: Workload, catalog: Catalog, server: str) -> tuple[str | None, str | None]:
    if workload.component == "model-server":
        model = catalog.resolve(workload.name)
        return server_url(model), host_url(model, server)
    component = COMPONENTS[workload.name]
    if not component.port:
        return None, None
    scheme = SCHEMES.get(workload.name, "http")
    cluster = f"{scheme}://{workload.name}.{GRAPHRAG_NAMESPACE}.svc.cluster.local:{component.port}"
    return cluster, node_url(server, component.node_port) if component.node_port else None


def graphrag_status(kube: Kube, catalog: Catalog) -> dict[str, Any]:
    parts = []
    for workload in GraphragDeploy(catalog).workloads():
        pods = kube.pods(workload.namespace, workload.labels)
        ready = any(pod.ready for pod in pods)
        cluster_url, host = _urls(workload, catalog, kube.server)
        parts.append(
            {
                "name": workload.name,
                "kind": workload.component,
                "ready": ready,
                "reason": "" if ready else (f"{pods[-1].phase} {pods[-1].reason}".strip() if pods else "no pod"),
                "cluster_url": cluster_url,
                "host_url": host,
            }
        )
    return {"server": kube.server, "parts": parts, "api_key": API_KEY_COMMAND}


def orchestrator_api_key(kube: Kube) -> str | None:
    """The orchestrator's first API key, from the Secret `graphrag deploy` made; None when there is none."""
    import base64

    secret = kube.get("Secret", CREDENTIALS_SECRET, namespace=GRAPHRAG_NAMESPACE)
    encoded = ((secret or {}).get("data") or {}).get("api-keys")
    if not encoded:
        return None
    first = base64.b64decode(encoded).decode().replace("\n", ",").split(",")[0]
    return first.partition(":")[0].strip() or None
