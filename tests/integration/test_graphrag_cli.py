"""`sparkctl graphrag deploy|status|remove` as a person runs them: the real helm binary installs charts/graphrag
into the FAKE Kubernetes API server (tests/support/fake_kube.py; no real API server can run here), which plays
the deployment controller and the kubelet, so each pod starts and turns Ready.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sparkctl.deploy import images
from support.deployed import ready_for_graphrag, run_with_helm
from support.fake_kube import FakeKube, PodRun
from support.local_cli import Cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CREDENTIALS = ("postgres-password", "neo4j-password", "api-keys", "service-key")


@pytest.fixture
def cluster(fake_kube: FakeKube) -> FakeKube:
    """After `models pull` and an image build: the GraphRAG models' claims marked pulled, the image on the node."""
    ready_for_graphrag(fake_kube)
    fake_kube.pod_script = lambda pod: PodRun("Running", after=0.2)
    return fake_kube


def _graphrag(cli: Cli, fake: FakeKube, *args: str) -> Any:
    return run_with_helm(cli, fake, "graphrag", *args)


def _credentials(fake: FakeKube) -> dict[str, str]:
    secret = fake.get("secrets", "graphrag-credentials", "graphrag")
    assert secret is not None
    return dict(secret["data"])


def test_deploy_generates_credentials_once_installs_the_stack_and_waits(cli: Cli, cluster: FakeKube) -> None:
    first = _graphrag(cli, cluster, "deploy", "--yes")

    assert first.returncode == 0, first.stdout + first.stderr
    assert "The GraphRAG stack is up." in first.stdout
    credentials = _credentials(cluster)
    assert sorted(credentials) == sorted(CREDENTIALS)
    for value in credentials.values():
        assert value not in first.stdout + first.stderr
    deployments = {d["metadata"]["name"] for d in cluster.objects("deployments", "graphrag")}
    assert {"orchestrator", "lightrag", "neo4j", "postgres", "worker", "qwen3", "qwen3-embedding"} <= deployments

    again = _graphrag(cli, cluster, "deploy", "--yes", "-o", "json")

    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["nothing_to_do"] is True
    assert _credentials(cluster) == credentials, "credentials are never regenerated"


def test_a_lost_key_is_generated_again_and_the_others_stay(cli: Cli, cluster: FakeKube) -> None:
    assert _graphrag(cli, cluster, "deploy", "--yes").returncode == 0
    before = _credentials(cluster)
    cluster.modify("v1", "secrets", "graphrag", "graphrag-credentials", lambda s: s["data"].pop("api-keys"))

    plan = _graphrag(cli, cluster, "deploy", "--dry-run", "-o", "json")
    result = _graphrag(cli, cluster, "deploy", "--yes")

    steps = {step["name"]: step for step in json.loads(plan.stdout)["steps"]}
    assert steps["credentials"]["reason"] == "Secret graphrag/graphrag-credentials lacks api-keys"
    assert result.returncode == 0, result.stderr
    after = _credentials(cluster)
    assert after["postgres-password"] == before["postgres-password"]
    assert after["neo4j-password"] == before["neo4j-password"]
    assert after["api-keys"] != before["api-keys"]


def test_without_the_services_image_on_the_node_it_is_refused_with_how_to_build_it(cli: Cli, cluster: FakeKube) -> None:
    cluster.modify("v1", "nodes", "", "spark-7f3a", lambda node: node["status"].update(images=[]))

    result = _graphrag(cli, cluster, "deploy", "--yes")

    assert result.returncode == 1
    assert f"Error: step 3 (image): {images.SERVICES.reference} is not on any node" in result.stderr
    assert "services/README.md" in result.stderr
    assert cluster.get("secrets", "graphrag-credentials", "graphrag") is None, "a refused plan changes nothing"


def test_status_names_every_part_its_endpoints_and_where_the_key_is(cli: Cli, cluster: FakeKube) -> None:
    assert _graphrag(cli, cluster, "deploy", "--yes").returncode == 0

    result = _graphrag(cli, cluster, "status", "-o", "json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    parts = {part["name"]: part for part in report["parts"]}
    assert all(part["ready"] for part in parts.values())
    assert parts["orchestrator"]["host_url"] == "http://127.0.0.1:31800"
    assert parts["neo4j"]["cluster_url"] == "neo4j://neo4j.graphrag.svc.cluster.local:7687"
    assert parts["worker"]["cluster_url"] is None
    assert "get secret graphrag-credentials" in report["api_key"]


def test_remove_keeps_the_data_volumes_and_the_credentials(cli: Cli, cluster: FakeKube) -> None:
    assert _graphrag(cli, cluster, "deploy", "--yes").returncode == 0

    result = _graphrag(cli, cluster, "remove", "--yes")

    assert result.returncode == 0, result.stderr
    assert cluster.objects("deployments", "graphrag") == []
    claims = {claim["metadata"]["name"] for claim in cluster.objects("persistentvolumeclaims", "graphrag")}
    assert {"neo4j-data", "postgres-data", "nats-data", "redis-data", "qwen3-models"} <= claims
    assert cluster.get("secrets", "graphrag-credentials", "graphrag") is not None


def test_build_dry_run_plans_the_image_on_the_host_then_the_stack(
    cli: Cli, cluster: FakeKube, sshd_server: Any
) -> None:
    ssh = ["--host", sshd_server.spec, "--identity", str(sshd_server.client_key)]
    cluster.modify("v1", "nodes", "", "spark-7f3a", lambda node: node["status"].update(images=[]))

    result = _graphrag(cli, cluster, *ssh, "deploy", "--build", "--dry-run")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "graphrag deploy --build: plan for" in result.stdout
    assert f"--tag={images.SERVICES.reference}" in result.stdout
    assert "nerdctl-full-2.1.4-linux-amd64.tar.gz" in result.stdout, "this machine is x86_64"
    assert "/usr/local/bin/nerdctl --namespace=k8s.io build" in result.stdout
    assert "graphrag deploy: plan for" in result.stdout
    assert "The services' image on the node" not in result.stdout, "the build plan checks the image on the host"
    assert cluster.get("secrets", "graphrag-credentials", "graphrag") is None
