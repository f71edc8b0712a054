"""A cluster in the fake API server as `models pull` and an image build leave it, for the deploy and teardown
tests; and the CLI run with the real helm on its PATH."""

from __future__ import annotations

import os
from typing import Any

from sparkctl.deploy import images
from support.fake_kube import FakeKube
from support.helm import layer_binaries_dir
from support.local_cli import Cli

GRAPHRAG_CLAIMS = {
    "qwen3-models": "qwen3:8b",
    "qwen3-embedding-models": "qwen3-embedding:0.6b",
    "bge-reranker-v2-m3-models": "BAAI/bge-reranker-v2-m3",
}
SERVING_CLAIMS = {"qwen3-coder-next-models": "qwen3-coder-next:q4_K_M", "deepseek-r1-models": "deepseek-r1:32b"}


def pulled_claims(fake: FakeKube, namespace: str, claims: dict[str, str]) -> None:
    """The namespace and its claims, each marked pulled (the annotation `models pull` writes) and bound."""
    if fake.get("namespaces", namespace) is None:
        fake.put(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}, "status": {"phase": "Active"}}
        )
    for claim, ref in claims.items():
        volume = f"pvc-{claim}"
        fake.put(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim, "namespace": namespace, "annotations": {"sparkctl.dev/pulled": ref}},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "longhorn-models",
                    "volumeName": volume,
                    "resources": {"requests": {"storage": "5Gi"}},
                },
            }
        )
        fake.put({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": volume}, "spec": {}})
        fake.put(
            {
                "apiVersion": "longhorn.io/v1beta2",
                "kind": "Volume",
                "metadata": {"name": volume, "namespace": "longhorn-system"},
                "spec": {},
            }
        )


def node_with_images(fake: FakeKube, *names: str) -> None:
    fake.add_node("spark-7f3a")
    fake.modify("v1", "nodes", "", "spark-7f3a", lambda node: node["status"].update(images=[{"names": list(names)}]))


def ready_for_graphrag(fake: FakeKube) -> None:
    for namespace in ("longhorn-system",):
        fake.put(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}, "status": {"phase": "Active"}}
        )
    pulled_claims(fake, "graphrag", GRAPHRAG_CLAIMS)
    node_with_images(fake, images.SERVICES.reference)


def run_with_helm(cli: Cli, fake: FakeKube, *args: str) -> Any:
    env = {"PATH": f"{layer_binaries_dir()}{os.pathsep}{os.environ['PATH']}"}
    return cli.run("--kubeconfig", str(fake.kubeconfig), *args, env=env, timeout=150)
