"""Jobs run to their end, annotations and deletions, against the FAKE Kubernetes API server
(tests/support/fake_kube.py) over real HTTPS: no real API server can run on this machine. The fake plays the job
controller (a pod at a time from the Job's template, replaced while failures stay within the backoff limit) and
the kubelet (the pod script), and serves the pods' logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sparkctl.errors import KubeTimeout
from sparkctl.kube import Kube
from support.fake_kube import FakeKube, PodRun

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PULL_LOG = "pulling manifest\npulling 6a0746a1ec1a: 100% 4.7 GB\nverifying sha256 digest\nsuccess\n"


@pytest.fixture
def kube(fake_kube: FakeKube) -> Iterator[Kube]:
    fake_kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llm"}, "status": {"phase": "Active"}})
    with Kube.from_kubeconfig(fake_kube.kubeconfig, timeout=3) as client:
        yield client


def pull_job(name: str = "pull-qwen3", backoff: int = 1) -> dict[str, Any]:
    container = {"name": "pull", "image": "docker.io/ollama/ollama:0.12.6", "command": ["/bin/sh", "-c", "true"]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "llm"},
        "spec": {
            "backoffLimit": backoff,
            "template": {
                "metadata": {"labels": {"app": "pull"}},
                "spec": {"restartPolicy": "Never", "containers": [container]},
            },
        },
    }


def test_a_job_that_succeeds_gives_its_log_line_by_line(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.pod_script = lambda pod: PodRun("Succeeded", log=PULL_LOG, after=0.4)
    lines: list[str] = []

    outcome = kube.run_job(pull_job(), timeout=20, on_line=lines.append)

    assert outcome.succeeded
    assert lines == PULL_LOG.splitlines()
    assert outcome.tail[-1] == "success"
    assert fake_kube.requested("GET", "/api/v1/namespaces/llm/pods/")[0].query.get("follow") == "true"
    job = fake_kube.get("jobs", "pull-qwen3", "llm")
    assert job is not None and job["status"]["succeeded"] == 1


def test_a_failing_job_is_retried_up_to_its_backoff_limit_then_reported_with_its_last_lines(
    kube: Kube, fake_kube: FakeKube
) -> None:
    attempts: list[str] = []

    def script(pod: dict[str, Any]) -> PodRun:
        attempts.append(pod["metadata"]["name"])
        return PodRun(
            "Failed", log=f"attempt {len(attempts)}\nError: pull model manifest: file does not exist\n", after=0.2
        )

    fake_kube.pod_script = script

    outcome = kube.run_job(pull_job(backoff=1), timeout=20)

    assert not outcome.succeeded
    assert len(attempts) == 2
    assert outcome.reason.startswith("2 attempts failed; the last: ")
    assert outcome.tail == (
        "attempt 1",
        "Error: pull model manifest: file does not exist",
        "attempt 2",
        "Error: pull model manifest: file does not exist",
    )


def test_a_job_whose_pod_never_starts_times_out_naming_why(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.pod_script = lambda pod: PodRun("Pending", message="0/1 nodes are available: Insufficient memory.")
    events: list[str] = []

    with pytest.raises(KubeTimeout, match=r"job llm/pull-qwen3 did not finish within 2 s") as raised:
        kube.run_job(pull_job(), timeout=2, on_event=events.append)

    assert "Insufficient memory" in raised.value.message
    assert any("Insufficient memory" in event for event in events)


def test_running_a_job_again_replaces_the_finished_one_and_its_pods(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.pod_script = lambda pod: PodRun("Succeeded", log="done\n", after=0.1)
    first = kube.run_job(pull_job(), timeout=20)
    old_pods = {pod["metadata"]["name"] for pod in fake_kube.objects("pods", "llm")}

    second = kube.run_job(pull_job(), timeout=20)

    assert first.succeeded and second.succeeded
    pods = {pod["metadata"]["name"] for pod in fake_kube.objects("pods", "llm")}
    assert len(pods) == 1 and not pods & old_pods
    assert fake_kube.requested("DELETE", "/apis/batch/v1/namespaces/llm/jobs/pull-qwen3")[-1].query == {
        "propagationPolicy": "Background"
    }


def test_annotate_sets_annotations_and_keeps_the_others(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.put(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "qwen3-models", "namespace": "llm", "annotations": {"owner": "me"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
        }
    )

    kube.annotate("PersistentVolumeClaim", "qwen3-models", {"sparkctl.dev/pulled": "qwen3:8b"}, namespace="llm")

    claim = fake_kube.get("persistentvolumeclaims", "qwen3-models", "llm")
    assert claim is not None
    assert claim["metadata"]["annotations"] == {"owner": "me", "sparkctl.dev/pulled": "qwen3:8b"}


def test_delete_of_what_is_not_there_is_false(kube: Kube) -> None:
    assert kube.delete("Job", "pull-nothing", namespace="llm") is False
