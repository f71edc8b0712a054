"""Applying a plan: facts are read again before and after each step, done steps are skipped, nothing runs
on a healthy cluster, and a run that stops resumes from facts.

The host is a strict fake that records and refuses what it was not told to expect; the Kubernetes API and
Helm are fakes too (no API server can run here): these tests are about the order and the exact calls.
"""

from __future__ import annotations

from typing import Any

import pytest

from sparkctl.cluster.actions import Target
from sparkctl.cluster.plan import PlanRefused, StepFailed, apply_plan, select
from sparkctl.cluster.steps import cluster_steps
from sparkctl.errors import KubeTimeout, SparkctlError
from support.cluster import FixtureFacts, SequenceFacts, StrictHost, load_host, settings_from


def _no_cluster() -> Any:
    raise AssertionError("the cluster's API was used")


class RecordingKube:
    """Stands in for sparkctl.kube.Kube: records calls; wait_node_ready times out like a node that never comes up."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def apply(self, manifests: list[dict[str, Any]]) -> list[str]:
        self.calls.append("apply " + ",".join(manifest["kind"] for manifest in manifests))
        return []

    def remove_taint(self, node: str, key: str, effect: str | None = None) -> bool:
        self.calls.append(f"remove_taint {node} {key}")
        return True

    def wait_node_ready(self, name: str, *, timeout: float) -> None:
        self.calls.append(f"wait_node_ready {name}")
        raise KubeTimeout(f"node {name} is not Ready after {timeout:g} s", hint="check kubelet")


def _events() -> tuple[list[tuple[str, str]], Any]:
    seen: list[tuple[str, str]] = []
    return seen, lambda kind, step, text: seen.append((kind, step.name))


def test_cluster_up_on_healthy_cluster_changes_nothing() -> None:
    host = StrictHost()
    seen, on_event = _events()

    apply_plan(
        cluster_steps(settings_from({})),
        FixtureFacts(load_host("healthy-cluster")),
        Target(host, _no_cluster, _no_cluster),
        on_event,
    )

    assert host.calls == []
    assert [kind for kind, _ in seen] == ["skip"] * 11


def test_drifted_containerd_is_rewritten_restarted_and_verified() -> None:
    drifted, healthy = load_host("drifted-containerd"), load_host("healthy-cluster")
    facts = SequenceFacts(drifted, drifted, drifted, healthy)
    host = StrictHost(allow=True)
    seen, on_event = _events()

    apply_plan(cluster_steps(settings_from({})), facts, Target(host, _no_cluster, _no_cluster), on_event)

    config = healthy["FileContent(/etc/containerd/config.toml)"]
    assert host.calls == [
        ("put", ("/etc/containerd/config.toml", config)),
        ("run", ["systemctl", "restart", "containerd"]),
    ]
    assert ("done", "runtime") in seen
    assert [kind for kind, name in seen if name != "runtime"] == ["skip"] * 10


def test_a_step_that_does_not_take_is_reported_with_where_to_resume() -> None:
    drifted = load_host("drifted-containerd")
    host = StrictHost(allow=True)

    with pytest.raises(StepFailed, match=r"step 3 \(runtime\) ran but is not done") as raised:
        apply_plan(
            cluster_steps(settings_from({})),
            FixtureFacts(drifted),
            Target(host, _no_cluster, _no_cluster),
            _events()[1],
        )

    assert "resumes at step 3" in raised.value.hint


def test_failure_in_step_7_stops_there_and_the_next_run_starts_at_7() -> None:
    kube = RecordingKube()
    host = StrictHost()
    seen, on_event = _events()

    with pytest.raises(KubeTimeout):
        apply_plan(
            cluster_steps(settings_from({})),
            FixtureFacts(load_host("stopped-at-flannel")),
            Target(host, lambda: kube, _no_cluster),
            on_event,
        )

    assert host.calls == []
    assert seen[:6] == [
        ("skip", name)
        for name in ("preflight", "kernel", "runtime", "kubernetes-packages", "kubeadm-init", "kubeconfig")
    ]
    assert seen[6] == ("start", "flannel")
    assert kube.calls == [
        "apply Namespace,ClusterRole,ClusterRoleBinding,ServiceAccount,ConfigMap,DaemonSet",
        "remove_taint spark-7f3a node-role.kubernetes.io/control-plane",
        "wait_node_ready spark-7f3a",
    ]


def test_unhealthy_cluster_is_refused_before_anything_changes() -> None:
    host = StrictHost()

    with pytest.raises(PlanRefused, match="unhealthy") as raised:
        apply_plan(
            cluster_steps(settings_from({})),
            FixtureFacts(load_host("unhealthy-cluster")),
            Target(host, _no_cluster, _no_cluster),
            _events()[1],
        )

    assert host.calls == []
    assert "--reset" in raised.value.hint


def test_from_step_starts_there_by_number_or_name() -> None:
    steps = cluster_steps(settings_from({}))

    assert [step.number for step in select(steps, "7")] == [7, 8, 9, 10, 11]
    assert select(steps, "longhorn")[0].number == 10
    with pytest.raises(SparkctlError, match="no step 'twelve'"):
        select(steps, "twelve")
