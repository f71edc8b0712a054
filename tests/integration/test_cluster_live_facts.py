"""The cluster facts as `cluster up` reads them live: through ClusterSession and the kubernetes client.

No Kubernetes API server can run here: the API is the fake one of tests/support/fake_kube.py, over HTTPS.
The host is this machine (LocalHost); only facts that read the API are asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkctl.cluster.facts.kubernetes import ApiServer, KubeObject, Node, StorageClasses
from sparkctl.cluster.session import ClusterSession
from sparkctl.cluster.steps import Settings
from sparkctl.cluster.steps.gpu import time_slicing_configmap
from sparkctl.hosts import LocalHost
from support.fake_kube import FakeKube

pytestmark = pytest.mark.integration


def _session(kubeconfig: Path) -> ClusterSession:
    return ClusterSession(LocalHost(), Settings(kubeconfig=kubeconfig))


def test_api_facts_come_from_the_cluster(fake_kube: FakeKube) -> None:
    fake_kube.add_node("spark-7f3a", allocatable={"nvidia.com/gpu": "5"}, labels={"kubernetes.io/arch": "arm64"})
    fake_kube.put(time_slicing_configmap(5) | {"metadata": {"name": "time-slicing-config", "namespace": "default"}})

    with _session(fake_kube.kubeconfig) as session:
        api = session.facts.get(ApiServer())
        node = session.facts.get(Node("spark-7f3a"))
        configmap = session.facts.get(KubeObject("ConfigMap", "default", "time-slicing-config"))
        missing = session.facts.get(KubeObject("DaemonSet", "kube-flannel", "kube-flannel-ds"))
        classes = session.facts.get(StorageClasses())

    assert api == {"reachable": True, "version": fake_kube.version, "error": None}
    assert node is not None and node["allocatable"]["nvidia.com/gpu"] == "5"
    assert node["labels"]["kubernetes.io/arch"] == "arm64"
    assert configmap is not None and "replicas: 5" in configmap["data"]["any"]
    assert missing is None
    assert classes == {}


def test_an_api_that_does_not_answer_is_a_fact_not_a_crash(fake_kube: FakeKube) -> None:
    fake_kube.ready = False

    with _session(fake_kube.kubeconfig) as session:
        api = session.facts.get(ApiServer())

    assert api is not None and api["reachable"] is False
    assert "not ready" in api["error"]


def test_no_kubeconfig_and_no_cluster_means_no_api_facts(tmp_path: Path) -> None:
    with _session(tmp_path / "absent.yaml") as session:
        assert session.facts.get(ApiServer()) is None
        assert session.facts.get(Node("spark-7f3a")) is None
