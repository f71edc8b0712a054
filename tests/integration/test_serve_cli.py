"""`sparkctl serve deploy|status|remove` as a person runs them: the real helm binary installs charts/llm-serving
into the FAKE Kubernetes API server (tests/support/fake_kube.py; no real API server can run here), which plays
the deployment controller and the kubelet: each model's pod starts and turns Ready. Plain mode, since KServe's
controller is not there to turn InferenceServices into pods; KServe mode is planned with --dry-run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from support.fake_kube import FakeKube, PodRun
from support.helm import layer_binaries_dir
from support.local_cli import Cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
SERVED = {"qwen3-coder-next": "qwen3-coder-next:q4_K_M", "deepseek-r1": "deepseek-r1:32b"}


@pytest.fixture
def cluster(fake_kube: FakeKube) -> FakeKube:
    """A cluster where `models pull` has run: the serving namespace and its two claims, marked pulled."""
    fake_kube.put(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llm-serving"}, "status": {"phase": "Active"}}
    )
    for model, ref in SERVED.items():
        fake_kube.put(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {
                    "name": f"{model}-models",
                    "namespace": "llm-serving",
                    "annotations": {"sparkctl.dev/pulled": ref},
                },
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
            }
        )
    fake_kube.pod_script = lambda pod: PodRun("Running", log="Listening on [::]:11434\n", after=0.3)
    return fake_kube


def _serve(cli: Cli, fake: FakeKube, *args: str, models: Path | None = None) -> Any:
    env = {"PATH": f"{layer_binaries_dir()}{os.pathsep}{os.environ['PATH']}"}
    extra = ["--models", str(models)] if models else []
    return cli.run("--kubeconfig", str(fake.kubeconfig), "serve", *args, *extra, env=env, timeout=150)


def test_deploy_installs_the_release_waits_until_ready_and_a_rerun_changes_nothing(cli: Cli, cluster: FakeKube) -> None:
    first = _serve(cli, cluster, "deploy", "--plain", "--yes")

    assert first.returncode == 0, first.stdout + first.stderr
    assert "Every model is served." in first.stdout
    deployments = {d["metadata"]["name"]: d for d in cluster.objects("deployments", "llm-serving")}
    assert sorted(deployments) == ["deepseek-r1", "qwen3-coder-next"]
    (container,) = deployments["qwen3-coder-next"]["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"memory": "54Gi", "nvidia.com/gpu": 1}
    service = cluster.get("services", "qwen3-coder-next", "llm-serving")
    assert service is not None and service["spec"]["ports"][0]["nodePort"] == 31434

    again = _serve(cli, cluster, "deploy", "--plain", "--yes", "-o", "json")

    assert again.returncode == 0, again.stderr
    plan = json.loads(again.stdout)
    assert plan["nothing_to_do"] is True
    assert [step["state"] for step in plan["steps"]] == ["done"] * 5


def test_a_changed_model_shows_as_drift_in_the_dry_run(cli: Cli, cluster: FakeKube, tmp_path: Path) -> None:
    assert _serve(cli, cluster, "deploy", "--plain", "--yes").returncode == 0
    changed = tmp_path / "models.toml"
    changed.write_text((ROOT / "models.toml").read_text().replace('memory = "28Gi"', 'memory = "24Gi"'))

    result = _serve(cli, cluster, "deploy", "--plain", "--dry-run", "-o", "json", models=changed)

    assert result.returncode == 0, result.stderr
    steps = {step["name"]: step for step in json.loads(result.stdout)["steps"]}
    assert steps["release"]["state"] == "drifted"
    assert steps["release"]["reason"] == "values differ from models.toml: models.deepseek-r1.memory: 28Gi → 24Gi"
    deployment = cluster.get("deployments", "deepseek-r1", "llm-serving")
    assert deployment is not None
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["memory"] == "28Gi", "a dry run changes nothing"


def test_status_shows_each_model_ready_with_its_endpoints(cli: Cli, cluster: FakeKube) -> None:
    assert _serve(cli, cluster, "deploy", "--plain", "--yes").returncode == 0

    result = _serve(cli, cluster, "status", "-o", "json")

    assert result.returncode == 0, result.stderr
    models = {model["name"]: model for model in json.loads(result.stdout)["models"]}
    assert models["deepseek-r1"]["ready"] is True
    assert models["deepseek-r1"]["cluster_url"] == "http://deepseek-r1.llm-serving.svc.cluster.local:11434"
    assert models["deepseek-r1"]["host_url"] == "http://127.0.0.1:31435"
    assert "deepseek-r1-tools" in models["deepseek-r1"]["names"]


def test_remove_uninstalls_the_release_and_keeps_the_weights(cli: Cli, cluster: FakeKube) -> None:
    assert _serve(cli, cluster, "deploy", "--plain", "--yes").returncode == 0

    result = _serve(cli, cluster, "remove", "--yes")

    assert result.returncode == 0, result.stderr
    assert cluster.objects("deployments", "llm-serving") == []
    assert {claim["metadata"]["name"] for claim in cluster.objects("persistentvolumeclaims", "llm-serving")} == {
        "qwen3-coder-next-models",
        "deepseek-r1-models",
    }


def test_deploy_before_the_weights_are_pulled_is_refused_and_changes_nothing(cli: Cli, fake_kube: FakeKube) -> None:
    result = _serve(cli, fake_kube, "deploy", "--plain", "--yes")

    assert result.returncode == 1
    assert "Error: step 1 (weights): not pulled yet: qwen3-coder-next, deepseek-r1" in result.stderr
    assert "sparkctl models pull qwen3-coder-next deepseek-r1" in result.stderr
    assert not [r for r in fake_kube.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]


def test_kserve_mode_dry_run_plans_cert_manager_kserve_and_the_release(cli: Cli, cluster: FakeKube) -> None:
    result = _serve(cli, cluster, "deploy", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "helm upgrade --install cert-manager cert-manager --repo https://charts.jetstack.io" in result.stdout
    assert "oci://ghcr.io/kserve/charts/kserve-resources --version v0.20.0" in result.stdout
    assert "(kserve mode, models qwen3-coder-next, deepseek-r1)" in result.stdout
    assert not [r for r in cluster.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]


@pytest.mark.parametrize(
    ("command", "kinds"),
    [
        (("serve", "deploy"), {"InferenceService", "Service", "ConfigMap"}),
        (("serve", "deploy", "--plain"), {"Deployment", "Service", "ConfigMap"}),
        (("graphrag", "deploy"), {"Deployment", "Service", "PersistentVolumeClaim", "ConfigMap"}),
    ],
)
def test_dry_run_yaml_renders_every_manifest_without_a_cluster(
    cli: Cli, tmp_path: Path, command: tuple[str, ...], kinds: set[str]
) -> None:
    import yaml

    env = {"PATH": f"{layer_binaries_dir()}{os.pathsep}{os.environ['PATH']}"}
    nowhere = ["--kubeconfig", str(tmp_path / "no-cluster.yaml")]

    result = cli.run(*nowhere, *command, "--dry-run", "-o", "yaml", env=env)
    not_dry = cli.run(*nowhere, *command, "-o", "yaml", env=env)

    assert result.returncode == 0, result.stderr
    manifests = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert {doc["kind"] for doc in manifests} == kinds
    assert not [doc for doc in manifests if doc["kind"] == "Secret"]
    assert not_dry.returncode == 1
    assert "--output yaml prints the manifests of a dry run" in not_dry.stderr
