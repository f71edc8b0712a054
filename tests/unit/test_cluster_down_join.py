"""Applying `cluster down` and `cluster join`: the exact calls in their order, resuming, and a join token
that never shows.

The hosts are strict fakes, and Helm and the Kubernetes API are recording fakes (no API server can run
here); the one test of a failing command runs it for real on this machine.
"""

from __future__ import annotations

from typing import Any

import pytest

from sparkctl.cluster.actions import MASK, Secret, Target, run
from sparkctl.cluster.plan import apply_plan
from sparkctl.cluster.steps import join_steps, teardown_steps
from sparkctl.cluster.steps.join import JoinCommand
from sparkctl.errors import CommandFailed, HostError
from sparkctl.hosts import LocalHost, Result
from support.cluster import FixtureFacts, SequenceFacts, StrictHost, load_host, settings_from

TOKEN = "k3x9qa.7f1c2b9e4d6a8c0f"
CA_HASH = "sha256:5e1d1c8f2a4b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"
# kubeadm's template (cmd/kubeadm/app/util/join.go) with its line continuations and tabs removed, as
# `kubeadm token create --print-join-command` prints it: note the trailing space.
PRINTED = f"kubeadm join 192.168.1.42:6443 --token {TOKEN} --discovery-token-ca-cert-hash {CA_HASH} \n"


def _no_cluster() -> Any:
    raise AssertionError("the cluster's API was used")


class RecordingHelm:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def uninstall(self, name: str, namespace: str, *, wait: bool, timeout: float) -> bool:
        self.calls.append(f"uninstall {namespace}/{name} wait={wait}")
        return True


class RecordingKube:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def apply(self, manifests: list[dict[str, Any]]) -> list[str]:
        self.calls.append(
            "apply " + ",".join(f"{m['kind']}/{m['metadata']['name']}={m.get('value')}" for m in manifests)
        )
        return []

    def wait_node_ready(self, name: str, *, timeout: float) -> None:
        self.calls.append(f"wait_node_ready {name}")

    def wait_allocatable(self, node: str, resource: str, count: int, *, timeout: float) -> None:
        self.calls.append(f"wait_allocatable {node} {resource}={count}")


def _after(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **{key.replace("__", "/"): value for key, value in changes.items()}}


def _events() -> tuple[list[tuple[str, str, str]], Any]:
    seen: list[tuple[str, str, str]] = []
    return seen, lambda kind, step, text: seen.append((kind, step.name, text))


def test_down_on_a_healthy_cluster_runs_each_step_in_order_and_verifies_it() -> None:
    healthy, fresh = load_host("healthy-cluster"), load_host("fresh-dgx-os")
    releases_gone = {**healthy, "HelmReleases": {"longhorn": healthy["HelmReleases"]["longhorn"]}}
    kubeconfig_gone = {
        **releases_gone,
        "KubeconfigDigests(/home/nvidia/.kube/config)": {
            "/etc/kubernetes/admin.conf": healthy["KubeconfigDigests(/home/nvidia/.kube/config)"][
                "/etc/kubernetes/admin.conf"
            ]
        },
    }
    reset = {**load_host("down-stopped-after-reset"), "KubeconfigDigests(/home/nvidia/.kube/config)": {}}
    purged = {
        **reset,
        "AptPackages": fresh["AptPackages"],
        "HeldPackages": [],
        "FileContent(/etc/apt/sources.list.d/kubernetes.list)": None,
        "FileContent(/etc/sparkctl/kubeadm.yaml)": None,
        "DirectoryEntries(/etc/apt/keyrings)": ["docker.asc"],
    }
    facts = SequenceFacts(healthy, releases_gone, releases_gone, kubeconfig_gone, kubeconfig_gone, reset, reset, purged)
    host, helm = StrictHost(allow=True), RecordingHelm()
    seen, on_event = _events()

    apply_plan(teardown_steps(settings_from({})), facts, Target(host, _no_cluster, lambda: helm), on_event)

    assert helm.calls == ["uninstall gpu-operator/gpu-operator wait=True"]
    assert host.calls == [
        ("run", ["rm", "-f", "/home/nvidia/.kube/config"]),
        ("run", ["kubeadm", "reset", "-f"]),
        ("run", ["rm", "-f", "/etc/cni/net.d/10-flannel.conflist"]),
        ("run", ["ip", "link", "delete", "cni0"]),
        ("run", ["ip", "link", "delete", "flannel.1"]),
        ("run", ["apt-mark", "unhold", "kubelet", "kubeadm", "kubectl"]),
        ("run", ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "purge", "-y", "kubelet", "kubeadm", "kubectl"]),
        (
            "run",
            [
                "rm",
                "-f",
                "/etc/apt/sources.list.d/kubernetes.list",
                "/etc/sparkctl/kubeadm.yaml",
                "/etc/apt/keyrings/kubernetes-apt-keyring.gpg",
            ],
        ),
    ]
    assert [(kind, name) for kind, name, _ in seen if kind in ("done", "skip")] == [
        ("done", "releases"),
        ("done", "kubeconfigs"),
        ("done", "kubeadm-reset"),
        ("done", "kubernetes-packages"),
        ("skip", "longhorn-data"),
    ]


def test_down_with_purge_sets_longhorns_flag_before_uninstalling_it() -> None:
    serving = load_host("serving-cluster")
    gone = {**serving, "HelmReleases": {}}
    kube, helm = RecordingKube(), RecordingHelm()
    order: list[str] = []
    kube.calls, helm.calls = order, order
    steps = teardown_steps(settings_from({"purge": True}))[:1]

    apply_plan(steps, SequenceFacts(serving, gone), Target(StrictHost(), lambda: kube, lambda: helm), _events()[1])

    assert order == [
        "uninstall graphrag/graphrag wait=True",
        "uninstall llm-serving/llm-serving wait=True",
        "uninstall gpu-operator/gpu-operator wait=True",
        "apply Setting/deleting-confirmation-flag=true",
        "uninstall longhorn-system/longhorn wait=True",
    ]


def test_down_where_there_is_no_cluster_changes_nothing() -> None:
    host = StrictHost()
    seen, on_event = _events()

    apply_plan(
        teardown_steps(settings_from({"purge": True})),
        FixtureFacts(load_host("fresh-dgx-os")),
        Target(host, _no_cluster, _no_cluster),
        on_event,
    )

    assert host.calls == []
    assert [kind for kind, _, _ in seen] == ["skip"] * 5


def test_join_command_is_parsed_from_kubeadms_output() -> None:
    join = JoinCommand.parse(PRINTED)

    assert join.endpoint == "192.168.1.42:6443"
    assert join.token.value == TOKEN
    assert join.ca_hashes == (CA_HASH,)
    assert str(join.token) == MASK


def test_join_command_with_continuations_and_two_ca_pins() -> None:
    printed = (
        f"kubeadm join spark:6443 --token {TOKEN} \\\n\t--discovery-token-ca-cert-hash {CA_HASH} "
        "--discovery-token-ca-cert-hash sha256:00\n"
    )

    assert JoinCommand.parse(printed).ca_hashes == (CA_HASH, "sha256:00")


@pytest.mark.parametrize(
    "printed",
    ["", "error: token create failed", f"kubeadm join 1.2.3.4:6443 --token {TOKEN}\n", f"kubeadm init --token {TOKEN}"],
)
def test_anything_but_a_join_command_is_refused_without_quoting_the_token(printed: str) -> None:
    with pytest.raises(HostError) as raised:
        JoinCommand.parse(printed)

    assert TOKEN not in raised.value.message + raised.value.hint


class ControlPlane(StrictHost):
    """The control plane: answers `kubeadm token create --print-join-command` and nothing else."""

    def run(self, command: Any, **options: Any) -> Any:
        self.calls.append(("run", (command, options.get("on_output"))))
        assert command == ["kubeadm", "token", "create", "--ttl", "15m", "--print-join-command"]
        return Result(0, PRINTED, "")


def test_join_takes_a_token_from_the_control_plane_and_never_shows_it() -> None:
    worker = load_host("worker-fresh-dgx-os")
    joined = {**load_host("worker-joined")}
    not_ready_yet = {**joined, "Node(spark-b2c4)": None}
    control_plane, host, kube = ControlPlane(), StrictHost(allow=True), RecordingKube()
    seen, on_event = _events()
    steps = [step for step in join_steps(settings_from({}), control_plane) if step.name == "kubeadm-join"]
    logged: list[str] = []

    apply_plan(
        steps,
        SequenceFacts(worker, joined, not_ready_yet),
        Target(host, lambda: kube, _no_cluster, lambda stream, text: logged.append(text)),
        on_event,
    )

    assert control_plane.calls == [
        ("run", (["kubeadm", "token", "create", "--ttl", "15m", "--print-join-command"], None))
    ]
    assert host.calls == [
        (
            "run",
            [
                "kubeadm",
                "join",
                "192.168.1.42:6443",
                "--token",
                TOKEN,
                "--discovery-token-ca-cert-hash",
                CA_HASH,
                "--cri-socket",
                "unix:///run/containerd/containerd.sock",
                "--node-name",
                "spark-b2c4",
            ],
        )
    ]
    assert kube.calls == ["wait_node_ready spark-b2c4"]
    assert TOKEN not in repr(seen) + "".join(logged)


def test_worker_gpu_slices_wait_for_the_clusters_time_slicing_count() -> None:
    joined = load_host("worker-joined")
    no_gpus_yet = {**joined, "Node(spark-b2c4)": {**joined["Node(spark-b2c4)"], "allocatable": {"cpu": "20"}}}
    kube = RecordingKube()
    steps = [step for step in join_steps(settings_from({"gpu_slices": 3}), StrictHost()) if step.name == "gpu-slices"]

    apply_plan(steps, SequenceFacts(no_gpus_yet, joined), Target(StrictHost(), lambda: kube, _no_cluster), _events()[1])

    assert kube.calls == ["wait_allocatable spark-b2c4 nvidia.com/gpu=5"]


def test_a_failing_command_names_its_secret_masked() -> None:
    token = Secret(TOKEN)
    action = run("sh", "-c", 'echo "bad token $0" >&2; exit 3', token)

    with pytest.raises(CommandFailed) as raised:
        action.execute(Target(LocalHost(), _no_cluster, _no_cluster))

    error = raised.value
    assert error.rc == 3
    assert MASK in error.message
    assert TOKEN not in error.message + error.hint + error.stderr + str(error)
    assert action.render().endswith(MASK)
