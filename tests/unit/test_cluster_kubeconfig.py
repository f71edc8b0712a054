"""The admin kubeconfig fetched from a remote host: server pointed at the host, readable by this user only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from sparkctl.cluster.kubeconfig import fetch_kubeconfig, local_kubeconfig_path, remote_kubeconfig_path
from sparkctl.errors import ConfigError

ADMIN_CONF = """\
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTg==
    server: https://10.0.0.5:6443
  name: kubernetes
contexts:
- context: {cluster: kubernetes, user: kubernetes-admin}
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
users:
- name: kubernetes-admin
  user: {client-certificate-data: Y2VydA==, client-key-data: a2V5}
"""


class AdminConfHost:
    """Holds /etc/kubernetes/admin.conf and nothing else; records whether it was read as root."""

    name = "spark"

    def __init__(self, text: str) -> None:
        self.text = text
        self.reads: list[tuple[str, bool]] = []

    def get(self, path: str, *, sudo: bool = False) -> bytes:
        self.reads.append((path, sudo))
        return self.text.encode()


@pytest.mark.parametrize(
    ("address", "server"), [("spark.lan", "https://spark.lan:6443"), ("fe80::1", "https://[fe80::1]:6443")]
)
def test_fetched_kubeconfig_points_at_the_host_and_is_private(tmp_path: Path, address: str, server: str) -> None:
    host = AdminConfHost(ADMIN_CONF)
    local = tmp_path / "kube" / "sparkctl-spark.yaml"

    fetch_kubeconfig(host, address, local)  # type: ignore[arg-type]

    document = yaml.safe_load(local.read_text())
    assert document["clusters"][0]["cluster"]["server"] == server
    assert document["users"][0]["user"]["client-key-data"] == "a2V5"
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert host.reads == [("/etc/kubernetes/admin.conf", True)]


def test_a_file_that_is_no_kubeconfig_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a kubeconfig"):
        fetch_kubeconfig(AdminConfHost("just text\n"), "spark", tmp_path / "k.yaml")  # type: ignore[arg-type]
    assert not (tmp_path / "k.yaml").exists()


def test_which_kubeconfig_this_machine_uses(tmp_path: Path) -> None:
    assert local_kubeconfig_path("nvidia@spark:2222", tmp_path / "given") == tmp_path / "given"
    assert local_kubeconfig_path("nvidia@spark:2222") == remote_kubeconfig_path("spark")
    assert remote_kubeconfig_path("spark").name == "sparkctl-spark.yaml"
    assert local_kubeconfig_path(None) == Path("~/.kube/config").expanduser()
