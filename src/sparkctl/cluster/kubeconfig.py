"""The cluster's admin kubeconfig, brought to the machine that runs sparkctl when the host is remote."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sparkctl.errors import ConfigError

if TYPE_CHECKING:
    from sparkctl.hosts import Host
    from sparkctl.kube import Kube

ADMIN_CONF = "/etc/kubernetes/admin.conf"
API_PORT = 6443


def remote_kubeconfig_path(host_name: str) -> Path:
    """Where the kubeconfig of a remote host's cluster is kept here: ~/.kube/sparkctl-<host>.yaml."""
    safe = "".join(char if char.isalnum() or char in "-._" else "_" for char in host_name)
    return Path("~/.kube").expanduser() / f"sparkctl-{safe}.yaml"


def local_kubeconfig_path(host_spec: str | None, explicit: Path | None = None) -> Path:
    """This machine's kubeconfig of the cluster: --kubeconfig, else the one fetched for --host, else ~/.kube/config."""
    if explicit is not None:
        return explicit
    if host_spec:
        from sparkctl.hosts import HostSpec

        return remote_kubeconfig_path(HostSpec.parse(host_spec).host)
    return Path("~/.kube/config").expanduser()


def open_cluster(host_spec: str | None, explicit: Path | None = None, *, timeout: float = 10.0) -> Kube:
    """A client of the cluster through this machine's kubeconfig, once its API answers; ConfigError without one."""
    from sparkctl.kube import Kube

    path = local_kubeconfig_path(host_spec, explicit)
    if not path.is_file():
        raise ConfigError(
            f"no kubeconfig at {path}",
            hint="Run `sparkctl cluster up` (with the same --host) to create the cluster and fetch its kubeconfig, "
            "or pass --kubeconfig.",
        )
    kube = Kube.from_kubeconfig(path, timeout=timeout)
    try:
        kube.readyz()
    except BaseException:
        kube.close()
        raise
    return kube


def with_server(kubeconfig: str, server: str) -> str:
    """The kubeconfig with every cluster's server address replaced by `server`."""
    try:
        document: Any = yaml.safe_load(kubeconfig)
        for entry in document["clusters"]:
            entry["cluster"]["server"] = server
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{ADMIN_CONF} is not a kubeconfig sparkctl can read: {exc}",
            hint="Check the file on the host; `kubeadm init` writes it.",
        ) from None
    return yaml.safe_dump(document, sort_keys=False)


def api_server_url(host_address: str) -> str:
    """The API server of a host reached at `host_address` (IPv6 in brackets)."""
    return f"https://[{host_address}]:{API_PORT}" if ":" in host_address else f"https://{host_address}:{API_PORT}"


def write_private(path: Path, text: str) -> Path:
    """Write a kubeconfig readable by this user only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    temporary.replace(path)
    return path


def fetch_kubeconfig(host: Host, host_address: str, local: Path) -> Path:
    """Copy the host's admin kubeconfig to `local` (mode 0600), pointing at https://HOST:6443."""
    text = host.get(ADMIN_CONF, sudo=True).decode()
    return write_private(local, with_server(text, api_server_url(host_address)))
