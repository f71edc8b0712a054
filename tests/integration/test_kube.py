"""sparkctl.kube against a FAKE Kubernetes API server (tests/support/fake_kube.py), over real HTTPS.

No real Kubernetes API server can run on this machine, so these tests talk to a fake one: an in-process
HTTP server that stores objects in memory, speaks server-side apply, merge patches, watches and pod logs,
and lets a test change the cluster while a watch is open. The official `kubernetes` client is not mocked:
every verb goes through it, over TLS with a bearer token from a kubeconfig, as it would against a Spark.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sparkctl.errors import (
    ConfigError,
    KubeForbidden,
    KubeInvalid,
    KubeNotFound,
    KubeTimeout,
    KubeUnreachable,
)
from sparkctl.kube import Kube, NodeInfo, PodProblem, StorageClassInfo
from sparkctl.local.process import free_port
from support.fake_kube import FakeKube, PodRun

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

APPLY = "application/apply-patch+yaml"
GPU_LOG = "GPU 0: NVIDIA GB10 (UUID: GPU-6b2c0d4e-1f)\n"


@pytest.fixture
def kube(fake_kube: FakeKube) -> Iterator[Kube]:
    from kubernetes.client import CoreV1Api  # noqa: F401 - its first import takes ~0.4 s: not on a test's clock

    with Kube.from_kubeconfig(fake_kube.kubeconfig, timeout=3) as client:
        yield client


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def check_pod(name: str) -> dict[str, Any]:
    container = {"name": "smi", "image": "nvcr.io/nvidia/cuda:13.0.1-base-ubuntu24.04", "command": ["nvidia-smi"]}
    return {
        "metadata": {"name": name, "labels": {"app": "gpu-share-check"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{**container, "args": ["-L"], "resources": {"limits": {"nvidia.com/gpu": 1}}}],
        },
    }


def gpu_taint() -> list[dict[str, str]]:
    return [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu", "effect": "NoSchedule"},
    ]


# --- apply -------------------------------------------------------------------------------------------------


def test_apply_creates_then_updates_through_server_side_apply(kube: Kube, fake_kube: FakeKube) -> None:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "time-slicing", "namespace": "gpu-operator"},
        "data": {
            "any": "version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - {name: nvidia.com/gpu, replicas: 4}\n"
        },
    }

    applied = kube.apply([namespace("gpu-operator"), config_map])

    assert applied == ["Namespace/gpu-operator", "ConfigMap/gpu-operator/time-slicing"]
    created = fake_kube.get("configmaps", "time-slicing", "gpu-operator")
    assert created is not None and "replicas: 4" in created["data"]["any"]
    assert [m["manager"] for m in created["metadata"]["managedFields"]] == ["sparkctl"]

    config_map["data"] = {"any": config_map["data"]["any"].replace("replicas: 4", "replicas: 5")}
    assert kube.apply([config_map]) == ["ConfigMap/gpu-operator/time-slicing"]

    updated = fake_kube.get("configmaps", "time-slicing", "gpu-operator")
    assert updated is not None and "replicas: 5" in updated["data"]["any"]
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    writes = [r for r in fake_kube.requests if r.method != "GET"]
    assert [(r.method, r.path, r.content_type) for r in writes] == [
        ("PATCH", "/api/v1/namespaces/gpu-operator", APPLY),
        ("PATCH", "/api/v1/namespaces/gpu-operator/configmaps/time-slicing", APPLY),
        ("PATCH", "/api/v1/namespaces/gpu-operator/configmaps/time-slicing", APPLY),
    ]
    assert all(r.query == {"fieldManager": "sparkctl", "force": "true"} for r in writes)
    assert writes[2].body["data"]["any"] == config_map["data"]["any"]


def test_apply_addresses_each_kind_at_its_own_api_group_and_scope(kube: Kube, fake_kube: FakeKube) -> None:
    manifests = [
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "longhorn-single"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reader"}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},  # no namespace: "default", as kubectl does
            "spec": {"replicas": 1},
        },
    ]

    assert kube.apply(manifests, field_manager="sparkctl-storage") == [
        "StorageClass/longhorn-single",
        "ClusterRole/reader",
        "Deployment/default/web",
    ]
    assert [r.path for r in fake_kube.requested("PATCH")] == [
        "/apis/storage.k8s.io/v1/storageclasses/longhorn-single",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/reader",
        "/apis/apps/v1/namespaces/default/deployments/web",
    ]
    assert {r.query["fieldManager"] for r in fake_kube.requested("PATCH")} == {"sparkctl-storage"}
    assert fake_kube.get("deployments", "web", "default") is not None


def test_get_reads_one_object_of_a_known_kind_or_none(kube: Kube, fake_kube: FakeKube) -> None:
    kube.apply(
        [
            namespace("kube-flannel"),
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {"name": "kube-flannel-ds", "namespace": "kube-flannel"},
                "spec": {"template": {}},
            },
        ]
    )

    found = kube.get("DaemonSet", "kube-flannel-ds", namespace="kube-flannel")

    assert found is not None and found["metadata"]["namespace"] == "kube-flannel"
    assert kube.get("DaemonSet", "kube-flannel-ds") is None  # namespaced kinds default to "default"
    assert kube.get("Namespace", "kube-flannel") is not None
    with pytest.raises(KubeInvalid, match="sparkctl knows only"):
        kube.get("Ingress", "web", namespace="default")


def test_apply_labels_an_existing_node(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.add_node("spark", labels={"kubernetes.io/hostname": "spark"})

    assert kube.apply(
        [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "spark", "labels": {"sparkctl.dev/gpu-check": "4"}}}]
    ) == ["Node/spark"]

    assert kube.nodes()[0].labels == {"kubernetes.io/hostname": "spark", "sparkctl.dev/gpu-check": "4"}
    assert kube.nodes()[0].ready, "status untouched"


def test_apply_forces_ownership_of_fields_another_applier_owns(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.put(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "settings",
                "namespace": "default",
                "managedFields": [{"manager": "helm", "operation": "Apply"}],
            },
            "data": {"mode": "old"},
        }
    )

    kube.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "new"}}])

    stored = fake_kube.get("configmaps", "settings", "default")
    assert stored is not None and stored["data"] == {"mode": "new"}
    assert {m["manager"] for m in stored["metadata"]["managedFields"]} == {"helm", "sparkctl"}


def test_apply_refuses_an_unknown_kind_before_changing_anything(kube: Kube, fake_kube: FakeKube) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x"}}

    with pytest.raises(KubeInvalid) as refused:
        kube.apply([namespace("first"), crd])

    assert "CustomResourceDefinition" in refused.value.message and "Helm chart" in refused.value.hint
    assert fake_kube.requested("PATCH") == []
    assert fake_kube.get("namespaces", "first") is None


def test_apply_of_an_invalid_object_is_a_clear_invalid_error(kube: Kube) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "empty", "namespace": "default"}, "spec": {}}

    with pytest.raises(KubeInvalid) as refused:
        kube.apply([pod])

    assert refused.value.message == (
        'applying Pod/default/empty was refused as invalid: Pod "empty" is invalid: spec.containers: Required value'
    )


def test_apply_into_a_missing_namespace_is_not_found_with_a_hint(kube: Kube) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "key", "namespace": "graphrag"}}

    with pytest.raises(KubeNotFound) as missing:
        kube.apply([secret])

    assert 'namespaces "graphrag" not found' in missing.value.message
    assert "namespace must exist" in missing.value.hint


# --- nodes and taints --------------------------------------------------------------------------------------


def test_nodes_read_readiness_taints_versions_and_resources(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.add_node(
        "spark",
        ready=False,
        message="container runtime network not ready: cni plugin not initialized",
        allocatable={"nvidia.com/gpu": "1"},
        taints=gpu_taint(),
        labels={"nvidia.com/gpu.present": "true"},
        kubelet_version="v1.34.2",
    )
    fake_kube.add_node("worker")

    spark, worker = kube.nodes()

    assert spark == NodeInfo(
        name="spark",
        ready=False,
        reason="container runtime network not ready: cni plugin not initialized",
        kubelet_version="v1.34.2",
        taints=["node-role.kubernetes.io/control-plane:NoSchedule", "nvidia.com/gpu:NoSchedule"],
        allocatable={"cpu": "20", "memory": "128Gi", "pods": "110", "nvidia.com/gpu": "1"},
        capacity={"cpu": "20", "memory": "128Gi", "pods": "110", "nvidia.com/gpu": "1"},
        labels={"nvidia.com/gpu.present": "true"},
    )
    assert (worker.name, worker.ready, worker.reason, worker.taints) == ("worker", True, "", [])
    assert spark.count("nvidia.com/gpu") == 1 and spark.count("memory") == 128 * 2**30
    node = kube.node("spark")
    assert node is not None and node["status"]["nodeInfo"]["architecture"] == "arm64"
    assert kube.node("missing") is None


def test_remove_taint_removes_only_that_taint_with_a_guarded_patch(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.add_node("spark", taints=gpu_taint())
    version = fake_kube.get("nodes", "spark")["metadata"]["resourceVersion"]  # type: ignore[index]

    assert kube.remove_taint("spark", "node-role.kubernetes.io/control-plane", "NoSchedule") is True

    node = fake_kube.get("nodes", "spark")
    assert node is not None and node["spec"]["taints"] == [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    (patch,) = fake_kube.requested("PATCH")
    assert (patch.path, patch.content_type) == ("/api/v1/nodes/spark", "application/merge-patch+json")
    assert patch.body["metadata"]["resourceVersion"] == version


def test_remove_taint_is_a_no_op_when_the_taint_is_absent(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.add_node("spark", taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])

    assert kube.remove_taint("spark", "node-role.kubernetes.io/control-plane") is False
    assert kube.remove_taint("spark", "nvidia.com/gpu", "NoExecute") is False  # same key, other effect

    assert fake_kube.requested("PATCH") == []
    assert kube.nodes()[0].taints == ["nvidia.com/gpu:NoSchedule"]


def test_remove_taint_reads_again_when_the_node_changed_meanwhile(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.add_node("spark", taints=gpu_taint())
    fake_kube.fail(409, method="PATCH", path="/nodes/spark", times=1, message="the object has been modified")

    assert kube.remove_taint("spark", "nvidia.com/gpu") is True

    assert len(fake_kube.requested("PATCH")) == 2
    assert kube.nodes()[0].taints == ["node-role.kubernetes.io/control-plane:NoSchedule"]


def test_remove_taint_of_a_missing_node_is_not_found(kube: Kube) -> None:
    with pytest.raises(KubeNotFound, match="node ghost does not exist"):
        kube.remove_taint("ghost", "nvidia.com/gpu")


# --- waits through watches ---------------------------------------------------------------------------------


def test_wait_node_ready_follows_a_watch_while_the_node_turns_ready(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.add_node("spark", ready=False, message="container runtime network not ready: cni plugin not initialized")
    fake_kube.add_node("other", ready=False)
    fake_kube.set_node_ready("spark", after=0.5)
    events: list[str] = []
    started = time.monotonic()

    node = kube.wait_node_ready("spark", timeout=10, on_event=events.append)

    assert 0.4 < time.monotonic() - started < 3
    assert node.name == "spark" and node.ready and node.reason == ""
    assert events == [
        "node spark: not Ready (container runtime network not ready: cni plugin not initialized)",
        "node spark: Ready",
    ]
    node_reads = fake_kube.requested("GET", "/api/v1/nodes")
    watches = [r for r in node_reads if r.query.get("watch") == "true"]
    assert len(node_reads) - len(watches) == 1, "one listing, then a watch: no polling"
    assert len(watches) == 1 and watches[0].query["fieldSelector"] == "metadata.name=spark"


def test_wait_node_ready_timeout_names_the_ready_condition(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.add_node("spark", ready=False, message="container runtime network not ready: cni plugin not initialized")
    started = time.monotonic()

    with pytest.raises(KubeTimeout) as late:
        kube.wait_node_ready("spark", timeout=1)

    assert time.monotonic() - started < 4
    assert late.value.message == (
        "node spark is not Ready after 1 s: container runtime network not ready: cni plugin not initialized"
    )
    assert "journalctl -u kubelet" in late.value.hint


def test_wait_node_ready_for_a_node_that_never_registers(kube: Kube) -> None:
    with pytest.raises(KubeTimeout, match="has not registered with the API server"):
        kube.wait_node_ready("spark", timeout=1)


def test_wait_node_ready_sees_a_node_that_registers_late(kube: Kube, fake_kube: FakeKube) -> None:
    threading.Timer(0.3, lambda: fake_kube.add_node("spark")).start()
    events: list[str] = []

    assert kube.wait_node_ready("spark", timeout=5, on_event=events.append).ready

    assert events == ["node spark: not registered yet", "node spark: Ready"]


def test_waits_survive_watches_the_server_ends_and_versions_it_forgets(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.add_node("spark", ready=False)
    fake_kube.watch_limit = 0.3  # real API servers end watches too, after minutes
    threading.Timer(0.5, fake_kube.compact).start()  # the next watch's resourceVersion is then 410 Expired
    fake_kube.set_node_ready("spark", after=1.0)

    assert kube.wait_node_ready("spark", timeout=10).ready

    node_reads = fake_kube.requested("GET", "/api/v1/nodes")
    listings = [r for r in node_reads if "watch" not in r.query]
    watches = [r for r in node_reads if r.query.get("watch") == "true"]
    assert len(watches) >= 3 and len(listings) >= 2, "re-watched after each end, listed again after the 410"


def test_wait_allocatable_sees_the_time_sliced_gpus_appear(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.add_node("spark", allocatable={"nvidia.com/gpu": "1"})
    fake_kube.set_allocatable("spark", {"nvidia.com/gpu": "5"}, after=0.5)
    events: list[str] = []

    node = kube.wait_allocatable("spark", "nvidia.com/gpu", 5, timeout=10, on_event=events.append)

    assert node.allocatable["nvidia.com/gpu"] == "5" and node.count("nvidia.com/gpu") == 5
    assert events == ["node spark: allocatable nvidia.com/gpu is 1", "node spark: allocatable nvidia.com/gpu is 5"]
    assert any(r.query.get("watch") == "true" for r in fake_kube.requested("GET", "/api/v1/nodes"))


def test_wait_allocatable_timeout_says_what_was_seen_and_where_to_look(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.add_node("spark", allocatable={"nvidia.com/gpu": "1"})

    with pytest.raises(KubeTimeout) as late:
        kube.wait_allocatable("spark", "nvidia.com/gpu", 5, timeout=1)

    assert "allocatable nvidia.com/gpu is 1, expected 5" in late.value.message
    assert "device plugin" in late.value.hint and "time-slicing ConfigMap" in late.value.hint


# --- namespaces ------------------------------------------------------------------------------------------------


def test_label_namespace_creates_it_then_adds_labels_keeping_others(kube: Kube, fake_kube: FakeKube) -> None:
    kube.label_namespace("gpu-operator", {"pod-security.kubernetes.io/enforce": "privileged"})
    kube.label_namespace("gpu-operator", {"team": "platform"})

    labels = fake_kube.get("namespaces", "gpu-operator")["metadata"]["labels"]  # type: ignore[index]
    assert labels == {"pod-security.kubernetes.io/enforce": "privileged", "team": "platform"}
    assert [(r.method, r.path) for r in fake_kube.requests] == [
        ("PATCH", "/api/v1/namespaces/gpu-operator"),
        ("POST", "/api/v1/namespaces"),
        ("PATCH", "/api/v1/namespaces/gpu-operator"),
    ]


def test_delete_namespace_waits_until_it_and_its_content_are_gone(kube: Kube, fake_kube: FakeKube) -> None:
    kube.apply(
        [
            namespace("graphrag"),
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "graphrag"}},
        ]
    )
    fake_kube.namespace_deletion_delay = 0.4

    assert kube.delete_namespace("graphrag", wait=True, timeout=5) is True

    assert fake_kube.get("namespaces", "graphrag") is None
    assert fake_kube.objects("configmaps", "graphrag") == []
    assert kube.delete_namespace("graphrag", wait=True, timeout=5) is False


def test_delete_namespace_stuck_on_a_finalizer_times_out_saying_so(kube: Kube, fake_kube: FakeKube) -> None:
    kube.apply([namespace("longhorn-system")])
    fake_kube.namespace_deletion_delay = None

    with pytest.raises(KubeTimeout) as late:
        kube.delete_namespace("longhorn-system", wait=True, timeout=1)

    assert "namespace longhorn-system is still Terminating after 1 s" in late.value.message
    assert "finalizers remaining: longhorn.io" in late.value.message
    assert "finalizer" in late.value.hint


# --- the GPU-sharing check ---------------------------------------------------------------------------------


def test_pods_check_runs_the_pods_together_reads_their_logs_and_deletes_them(kube: Kube, fake_kube: FakeKube) -> None:
    kube.apply([namespace("gpu-check")])
    fake_kube.pod_script = lambda pod: PodRun("Succeeded", log=GPU_LOG, after=0.4)

    outcomes = kube.run_pods_check("gpu-check", [check_pod("share-a"), check_pod("share-b")], timeout=10)

    assert [(o.name, o.phase, o.log, o.reason) for o in outcomes] == [
        ("share-a", "Succeeded", GPU_LOG, ""),
        ("share-b", "Succeeded", GPU_LOG, ""),
    ]
    calls = [(r.method, r.path) for r in fake_kube.requests if "/namespaces/gpu-check/pods" in r.path]
    assert calls[:2] == [("POST", "/api/v1/namespaces/gpu-check/pods")] * 2, "both created before waiting"
    assert any(r.query.get("watch") == "true" for r in fake_kube.requested("GET", "/namespaces/gpu-check/pods"))
    assert ("DELETE", "/api/v1/namespaces/gpu-check/pods/share-a") in calls
    assert ("DELETE", "/api/v1/namespaces/gpu-check/pods/share-b") in calls
    assert fake_kube.objects("pods", "gpu-check") == []
    created = fake_kube.requested("POST")[0].body
    assert created["kind"] == "Pod" and created["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": 1}


def test_pods_check_reports_the_failing_pod_and_still_deletes_both(kube: Kube, fake_kube: FakeKube) -> None:
    kube.apply([namespace("gpu-check")])

    def script(pod: dict[str, Any]) -> PodRun:
        if pod["metadata"]["name"] == "share-b":
            return PodRun("Failed", log="Failed to initialize NVML: Unknown Error\n", message="nvidia-smi failed")
        return PodRun("Succeeded", log=GPU_LOG)

    fake_kube.pod_script = script

    first, second = kube.run_pods_check("gpu-check", [check_pod("share-a"), check_pod("share-b")], timeout=10)

    assert (first.phase, first.reason) == ("Succeeded", "")
    assert (second.phase, second.log) == ("Failed", "Failed to initialize NVML: Unknown Error\n")
    assert second.reason == "smi exited with code 1 (Error): nvidia-smi failed"
    assert fake_kube.objects("pods", "gpu-check") == []
    assert len(fake_kube.requested("DELETE", "/namespaces/gpu-check/pods/")) == 2


def test_pods_check_timeout_says_why_a_pod_waits_and_deletes_it(kube: Kube, fake_kube: FakeKube) -> None:
    kube.apply([namespace("gpu-check")])
    unschedulable = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    fake_kube.pod_script = lambda pod: PodRun("Pending", message=unschedulable, after=0.1)
    started = time.monotonic()

    (outcome,) = kube.run_pods_check("gpu-check", [check_pod("share-a")], timeout=1)

    assert time.monotonic() - started < 4
    assert (outcome.phase, outcome.log) == ("Pending", "")
    assert outcome.reason == f"still Pending after 1 s: PodScheduled: Unschedulable: {unschedulable}"
    assert fake_kube.objects("pods", "gpu-check") == []


def test_pods_check_deletes_the_pods_it_created_when_a_later_one_is_refused(kube: Kube, fake_kube: FakeKube) -> None:
    kube.apply([namespace("gpu-check")])
    broken = {"metadata": {"name": "share-b"}, "spec": {"containers": []}}

    with pytest.raises(KubeInvalid, match=r"spec\.containers: Required value"):
        kube.run_pods_check("gpu-check", [check_pod("share-a"), broken], timeout=5)

    assert fake_kube.objects("pods", "gpu-check") == []
    assert [r.path for r in fake_kube.requested("DELETE")] == ["/api/v1/namespaces/gpu-check/pods/share-a"]


# --- status ------------------------------------------------------------------------------------------------


def pod(name: str, namespace: str, status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "main", "image": "x"}]},
        "status": status,
    }


def test_status_reports_nodes_version_storage_and_the_pods_not_ready(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.version = "v1.34.1"
    fake_kube.add_node("spark", allocatable={"nvidia.com/gpu": "4"})
    default = {"storageclass.kubernetes.io/is-default-class": "true"}
    fake_kube.put(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "longhorn", "annotations": default},
            "provisioner": "driver.longhorn.io",
            "reclaimPolicy": "Retain",
        }
    )
    fake_kube.put(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "local-path"},
            "provisioner": "rancher.io/local-path",
        }
    )
    ready = {"type": "Ready", "status": "True"}
    fake_kube.put(pod("coredns", "kube-system", {"phase": "Running", "conditions": [ready]}))
    fake_kube.put(pod("migrate", "graphrag", {"phase": "Succeeded"}))
    crashing = {"name": "main", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}}}
    fake_kube.put(
        pod(
            "orchestrator",
            "graphrag",
            {
                "phase": "Running",
                "conditions": [
                    {"type": "Ready", "status": "False", "message": "containers with unready status: [main]"}
                ],
                "containerStatuses": [crashing],
            },
        )
    )
    fake_kube.put(
        pod(
            "neo4j",
            "graphrag",
            {
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "unbound PVC"}
                ],
            },
        )
    )
    not_serving = {"type": "Ready", "status": "False", "message": "readiness probe failed"}
    fake_kube.put(pod("lightrag", "graphrag", {"phase": "Running", "conditions": [not_serving]}))

    status = kube.status()

    assert status.server_version == "v1.34.1"
    assert [(n.name, n.ready, n.allocatable["nvidia.com/gpu"]) for n in status.nodes] == [("spark", True, "4")]
    assert status.storage_classes == [
        StorageClassInfo(
            name="local-path", provisioner="rancher.io/local-path", reclaim_policy="Delete", is_default=False
        ),
        StorageClassInfo(name="longhorn", provisioner="driver.longhorn.io", reclaim_policy="Retain", is_default=True),
    ]
    assert sorted(status.unready_pods, key=lambda p: p.name) == [
        PodProblem("graphrag", "lightrag", "Running", "Ready: readiness probe failed"),
        PodProblem("graphrag", "neo4j", "Pending", "PodScheduled: Unschedulable: unbound PVC"),
        PodProblem("graphrag", "orchestrator", "Running", "main: CrashLoopBackOff: back-off 5m0s"),
    ]


# --- reaching the server, and being refused ----------------------------------------------------------------


def test_readyz_passes_on_a_ready_server(kube: Kube, fake_kube: FakeKube) -> None:
    kube.readyz()

    (request,) = fake_kube.requests
    assert (request.method, request.path) == ("GET", "/readyz")


def test_readyz_of_a_server_that_is_not_ready_says_which_check_fails(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.ready = False

    with pytest.raises(KubeUnreachable, match=r"answers but is not ready \(etcd failed: reason withheld\)"):
        kube.readyz()


def test_a_closed_port_is_unreachable_quickly_with_what_to_check(fake_kube: FakeKube, tmp_path: Path) -> None:
    address = f"https://127.0.0.1:{free_port()}"
    config = fake_kube.write_kubeconfig(tmp_path / "closed", server=address)
    started = time.monotonic()

    with pytest.raises(KubeUnreachable) as unreachable, Kube.from_kubeconfig(config, timeout=5) as kube:
        kube.readyz()

    assert time.monotonic() - started < 10
    assert (
        unreachable.value.message == f"the Kubernetes API server at {address} refused the connection (checking /readyz)"
    )
    hint = unreachable.value.hint
    assert "server address in the kubeconfig" in hint and "sparkctl cluster status" in hint and "6443" in hint


def test_a_server_that_never_answers_fails_after_the_timeout(fake_kube: FakeKube, tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts TCP connections (the kernel does), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        config = fake_kube.write_kubeconfig(tmp_path / "silent", server=f"https://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()

        with (
            pytest.raises(KubeUnreachable, match="did not answer within 1 s"),
            Kube.from_kubeconfig(config, timeout=1) as kube,
        ):
            kube.nodes()

        assert time.monotonic() - started < 4


def test_a_server_with_another_certificate_authority_is_refused_plainly(fake_kube: FakeKube, tmp_path: Path) -> None:
    certifi = pytest.importorskip("certifi")
    foreign = Path(certifi.where()).read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    config = fake_kube.write_kubeconfig(tmp_path / "foreign")
    import base64

    import yaml

    document = yaml.safe_load(config.read_text())
    document["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(foreign.encode()).decode()
    config.write_text(yaml.safe_dump(document))

    with (
        pytest.raises(KubeUnreachable, match="failed the TLS handshake") as refused,
        Kube.from_kubeconfig(config) as kube,
    ):
        kube.nodes()

    assert "certificate authority" in refused.value.message


def test_a_forbidden_request_is_one_clear_error(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.fail(403, method="GET", path="/api/v1/nodes")

    with pytest.raises(KubeForbidden) as forbidden:
        kube.nodes()

    assert forbidden.value.message == (
        'listing nodes was forbidden: nodes is forbidden: User "fake-admin" cannot get resource "nodes"'
    )
    assert "/etc/kubernetes/admin.conf" in forbidden.value.hint


def test_a_forbidden_watch_is_the_same_clear_error(kube: Kube, fake_kube: FakeKube) -> None:
    fake_kube.add_node("spark", ready=False)
    fake_kube.watch_limit = 0.3  # the watch ends; watching again is refused
    threading.Timer(0.2, lambda: fake_kube.fail(403, method="GET", path="/api/v1/nodes")).start()

    with pytest.raises(KubeForbidden, match="watching node spark was forbidden: nodes is forbidden"):
        kube.wait_node_ready("spark", timeout=5)

    assert fake_kube.requests[-1].query.get("watch") == "true", "the refused request was the watch"


def test_a_kubeadm_style_kubeconfig_with_a_client_certificate_works(fake_kube: FakeKube, tmp_path: Path) -> None:
    config = fake_kube.write_kubeconfig(tmp_path / "admin.conf", client_certificate=True)
    fake_kube.add_node("spark")

    with Kube.from_kubeconfig(config) as kube:
        assert [node.name for node in kube.nodes()] == ["spark"]

    assert "client-certificate-data" in config.read_text() and "token" not in config.read_text()


def test_a_wrong_token_is_rejected_credentials(fake_kube: FakeKube, tmp_path: Path) -> None:
    config = fake_kube.write_kubeconfig(tmp_path / "stale", token="expired-token")

    with pytest.raises(KubeForbidden) as rejected, Kube.from_kubeconfig(config) as kube:
        kube.status()

    assert f"rejected the credentials in {config} (401 Unauthorized)" in rejected.value.message
    assert "admin.conf" in rejected.value.hint


def test_a_missing_or_garbled_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as missing:
        Kube.from_kubeconfig(tmp_path / "nowhere")
    assert "--kubeconfig" in missing.value.hint

    garbled = tmp_path / "garbled"
    garbled.write_text("clusters: [{{{\n")
    with pytest.raises(ConfigError, match="cannot be used"):
        Kube.from_kubeconfig(garbled)

    no_context = tmp_path / "no-context"
    no_context.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    with pytest.raises(ConfigError, match="current-context"):
        Kube.from_kubeconfig(no_context)


def test_importing_sparkctl_kube_does_not_load_the_kubernetes_client() -> None:
    code = "import sys, sparkctl.kube; print('kubernetes' in sys.modules, 'urllib3' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.split() == ["False", "False"]
