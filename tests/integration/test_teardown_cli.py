"""`sparkctl teardown` as a person runs it, after `graphrag deploy` and `serve deploy` installed their releases
with the real helm into the FAKE Kubernetes API server (tests/support/fake_kube.py; no real API server can run
here). Without --purge no claim is ever deleted; with it, the claim, its volume and Longhorn's copy go.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from support.deployed import SERVING_CLAIMS, pulled_claims, ready_for_graphrag, run_with_helm
from support.fake_kube import FakeKube, PodRun
from support.local_cli import Cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture
def deployed(cli: Cli, fake_kube: FakeKube) -> FakeKube:
    """Both stacks installed: graphrag, and llm-serving in plain mode."""
    ready_for_graphrag(fake_kube)
    pulled_claims(fake_kube, "llm-serving", SERVING_CLAIMS)
    fake_kube.pod_script = lambda pod: PodRun("Running", after=0.2)
    for command in (("graphrag", "deploy", "--yes"), ("serve", "deploy", "--plain", "--yes")):
        result = run_with_helm(cli, fake_kube, *command)
        assert result.returncode == 0, result.stdout + result.stderr
    return fake_kube


def _claims(fake: FakeKube, namespace: str) -> set[str]:
    return {claim["metadata"]["name"] for claim in fake.objects("persistentvolumeclaims", namespace)}


def _deletions(fake: FakeKube) -> list[str]:
    return [r.path for r in fake.requests if r.method == "DELETE"]


def test_teardown_without_purge_removes_releases_and_keeps_every_volume(cli: Cli, deployed: FakeKube) -> None:
    claims_before = _claims(deployed, "graphrag") | _claims(deployed, "llm-serving")

    result = run_with_helm(cli, deployed, "teardown", "--yes", "-o", "json")

    assert result.returncode == 0, result.stderr
    assert deployed.objects("deployments", "graphrag") == deployed.objects("deployments", "llm-serving") == []
    assert _claims(deployed, "graphrag") | _claims(deployed, "llm-serving") == claims_before
    assert not [path for path in _deletions(deployed) if "persistentvolume" in path or "/volumes/" in path]
    assert deployed.get("namespaces", "graphrag") is not None, "it holds volumes"
    assert deployed.get("secrets", "graphrag-credentials", "graphrag") is not None


def test_the_plan_says_what_is_kept_and_changes_nothing(cli: Cli, deployed: FakeKube) -> None:
    deletions = len(_deletions(deployed))

    result = run_with_helm(cli, deployed, "teardown", "graphrag", "--dry-run", "-o", "json")

    assert result.returncode == 0, result.stderr
    steps = {step["name"]: step for step in json.loads(result.stdout)["steps"]}
    assert steps["releases"]["actions"] == ["helm uninstall graphrag --namespace graphrag --wait"]
    assert steps["volumes"]["state"] == "done"
    assert steps["volumes"]["reason"].startswith("kept: graphrag/bge-reranker-v2-m3-models, ")
    assert steps["volumes"]["reason"].endswith("(--purge deletes them)")
    assert len(_deletions(deployed)) == deletions


def test_purge_deletes_claims_volumes_and_namespace_after_the_release(cli: Cli, deployed: FakeKube) -> None:
    result = run_with_helm(cli, deployed, "teardown", "graphrag", "--purge", "--yes")

    assert result.returncode == 0, result.stdout + result.stderr
    assert _claims(deployed, "graphrag") == set()
    assert deployed.get("persistentvolumes", "pvc-qwen3-models") is None
    assert deployed.get("volumes", "pvc-qwen3-models", "longhorn-system") is None
    assert deployed.get("namespaces", "graphrag") is None
    deletions = _deletions(deployed)
    first_claim = next(i for i, path in enumerate(deletions) if "persistentvolumeclaims" in path)
    release_gone = max(i for i, path in enumerate(deletions) if "/namespaces/graphrag/deployments/" in path)
    assert release_gone < first_claim, "volumes go only after what used them"
    assert _claims(deployed, "llm-serving") == set(SERVING_CLAIMS), "the other stack is not touched"


def test_an_unknown_stack_is_refused(cli: Cli, deployed: FakeKube) -> None:
    result: Any = run_with_helm(cli, deployed, "teardown", "everything")

    assert result.returncode == 1
    assert "cannot tear down everything" in result.stderr
    assert "serve, graphrag, cluster, all" in result.stderr


def test_teardown_all_goes_on_into_cluster_down(cli: Cli, deployed: FakeKube, sshd_server: Any) -> None:
    ssh = ["--host", sshd_server.spec, "--identity", str(sshd_server.client_key)]

    result = run_with_helm(cli, deployed, *ssh, "teardown", "all", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "teardown: plan for" in result.stdout
    assert "helm uninstall graphrag --namespace graphrag --wait" in result.stdout
    assert "helm uninstall llm-serving --namespace llm-serving --wait" in result.stdout
    assert "cluster down: plan for" in result.stdout
    assert deployed.objects("deployments", "graphrag"), "a dry run changes nothing"


def test_teardown_all_as_json_is_one_document_with_both_plans(cli: Cli, deployed: FakeKube, sshd_server: Any) -> None:
    ssh = ["--host", sshd_server.spec, "--identity", str(sshd_server.client_key)]

    result = run_with_helm(cli, deployed, *ssh, "teardown", "all", "--dry-run", "-o", "json")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [plan["command"] for plan in document["plans"]] == ["teardown", "cluster down"]
    assert all(plan["dry_run"] for plan in document["plans"])
