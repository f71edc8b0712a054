"""`sparkctl models pull` as a person runs it, against the FAKE Kubernetes API server (tests/support/fake_kube.py):
no real API server can run on this machine. The fake plays the job controller and the kubelet; its pod script
decides what each pull pod prints and whether it succeeds. The CLI runs in a subprocess, over HTTPS, with the
fake's kubeconfig.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from support.fake_kube import FakeKube, PodRun
from support.local_cli import Cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

OLLAMA_LOG = (
    "pulling manifest \u001b[K\n"
    "pulling a3de86cd1c13: 100% \u2595\u2588\u2588\u2588\u2588\u258f 5.2 GB\r"
    "pulling a3de86cd1c13: 100% 5.2 GB \u001b[K\n"
    "verifying sha256 digest \u001b[K\n"
    "writing manifest \u001b[K\n"
    "success \u001b[K\n"
    "qwen3:8b pulled and verified\n"
)


def _pull(cli: Cli, fake: FakeKube, *args: str) -> Any:
    return cli.run("--kubeconfig", str(fake.kubeconfig), "models", "pull", *args)


def _writes(fake: FakeKube) -> list[Any]:
    return [r for r in fake.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]


def test_dry_run_shows_every_model_missing_and_changes_nothing(cli: Cli, fake_kube: FakeKube) -> None:
    result = _pull(cli, fake_kube, "--dry-run", "-o", "json")

    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [(m["model"], m["state"]) for m in plan["models"]] == [
        ("qwen3-coder-next", "missing"),
        ("deepseek-r1", "missing"),
        ("qwen3", "missing"),
        ("qwen3-embedding", "missing"),
        ("bge-reranker-v2-m3", "missing"),
    ]
    assert plan["models"][2]["claim"] == "qwen3-models"
    assert _writes(fake_kube) == []


def test_a_pull_creates_the_volume_runs_the_job_and_marks_the_volume(cli: Cli, fake_kube: FakeKube) -> None:
    fake_kube.pod_script = lambda pod: PodRun("Succeeded", log=OLLAMA_LOG, after=0.4)

    result = _pull(cli, fake_kube, "extract", "--yes")

    assert result.returncode == 0, result.stderr
    assert "✓ qwen3: qwen3:8b in graphrag/qwen3-models" in result.stdout
    claim = fake_kube.get("persistentvolumeclaims", "qwen3-models", "graphrag")
    assert claim is not None
    assert claim["spec"]["storageClassName"] == "longhorn-models"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert claim["metadata"]["annotations"]["sparkctl.dev/pulled"] == "qwen3:8b"
    (created,) = [r.body for r in fake_kube.requested("POST", "/apis/batch/v1/namespaces/graphrag/jobs")]
    (container,) = created["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("docker.io/ollama/ollama:")
    assert "ollama pull qwen3:8b\n" in container["command"][-1]
    assert fake_kube.get("jobs", "pull-qwen3", "graphrag") is None, "a finished pull's Job is removed"


def test_a_model_already_pulled_is_skipped_without_a_job(cli: Cli, fake_kube: FakeKube) -> None:
    fake_kube.pod_script = lambda pod: PodRun("Succeeded", log=OLLAMA_LOG, after=0.2)
    assert _pull(cli, fake_kube, "qwen3", "--yes").returncode == 0
    jobs_before = len(fake_kube.requested("POST", "/jobs"))

    result = _pull(cli, fake_kube, "qwen3", "--yes")

    assert result.returncode == 0, result.stderr
    assert "pulled" in result.stdout and "qwen3-models holds qwen3:8b" in result.stdout
    assert len(fake_kube.requested("POST", "/jobs")) == jobs_before


def test_a_failed_pull_shows_its_last_lines_and_fails(cli: Cli, fake_kube: FakeKube) -> None:
    log = "pulling manifest\nError: pull model manifest: file does not exist\n"
    fake_kube.pod_script = lambda pod: PodRun("Failed", log=log, after=0.2, message="exit status 1")

    result = _pull(cli, fake_kube, "qwen3-embedding", "--yes")

    assert result.returncode == 1
    assert "Error: pulling qwen3-embedding failed: 3 attempts failed" in result.stderr
    assert "Error: pull model manifest: file does not exist" in result.stdout
    claim = fake_kube.get("persistentvolumeclaims", "qwen3-embedding-models", "graphrag")
    assert claim is not None and "sparkctl.dev/pulled" not in (claim["metadata"].get("annotations") or {})
    assert "Traceback" not in result.stderr


def test_a_hugging_face_model_is_downloaded_with_the_vllm_image(cli: Cli, fake_kube: FakeKube) -> None:
    fake_kube.pod_script = lambda pod: PodRun("Succeeded", log="BAAI/bge-reranker-v2-m3 pulled and verified\n")

    result = _pull(cli, fake_kube, "reranker", "--yes", "-o", "json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pulled"] == [{"model": "bge-reranker-v2-m3", "succeeded": True, "reason": ""}]
    (created,) = [r.body for r in fake_kube.requested("POST", "/jobs")]
    (container,) = created["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("docker.io/vllm/vllm-openai:")
    script = container["command"][-1]
    assert "download BAAI/bge-reranker-v2-m3 --revision main --local-dir /models/hf/BAAI/bge-reranker-v2-m3" in script
    assert "test -f /models/hf/BAAI/bge-reranker-v2-m3/config.json" in script


def test_without_a_kubeconfig_it_says_how_to_get_one(cli: Cli, tmp_path: Any) -> None:
    result = cli.run("--kubeconfig", str(tmp_path / "none.yaml"), "models", "pull", "--dry-run")

    assert result.returncode == 1
    assert "no kubeconfig at" in result.stderr
    assert "sparkctl cluster up" in result.stderr


def test_models_list_shows_each_models_status_when_the_cluster_answers(cli: Cli, fake_kube: FakeKube) -> None:
    fake_kube.pod_script = lambda pod: PodRun("Succeeded", log=OLLAMA_LOG, after=0.2)
    assert _pull(cli, fake_kube, "qwen3", "--yes").returncode == 0

    listed = cli.run("--kubeconfig", str(fake_kube.kubeconfig), "models", "list", "-o", "json")
    table = cli.run("--kubeconfig", str(fake_kube.kubeconfig), "models", "list")

    assert listed.returncode == 0, listed.stderr
    states = {model["name"]: model["status"] for model in json.loads(listed.stdout)["models"]}
    assert states["qwen3"] == "pulled"
    assert states["deepseek-r1"] == "missing"
    assert "status" in table.stdout and "pulled" in table.stdout
    without = cli.run("--kubeconfig", str(cli.root / "none.yaml"), "models", "list", "-o", "json")
    assert "status" not in json.loads(without.stdout)["models"][0]
