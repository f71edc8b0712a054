"""Everything one `cluster` command works with: the host, live facts, and the cluster's API and Helm once they exist."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sparkctl.cluster.actions import Target
from sparkctl.cluster.facts import LiveFacts
from sparkctl.cluster.kubeconfig import ADMIN_CONF, api_server_url, with_server, write_private
from sparkctl.cluster.steps import Settings
from sparkctl.errors import CommandFailed

if TYPE_CHECKING:
    from sparkctl.helm import Helm
    from sparkctl.hosts import Host, OutputCallback
    from sparkctl.kube import Kube


class ClusterSession:
    """The host and, lazily, a client of its cluster.

    The kubeconfig is this machine's copy when there is one; before step 6 has made it, the host's
    admin.conf is read (as root) into a private temporary file, so that a run resumed after `kubeadm init`
    can still ask the API.
    """

    def __init__(self, host: Host, settings: Settings, on_output: OutputCallback | None = None) -> None:
        self.host = host
        self.settings = settings
        self._kube: Kube | None = None
        self._kubeconfig: Path | None = None
        self._scratch = tempfile.TemporaryDirectory(prefix="sparkctl-")
        self.facts = LiveFacts(host, self.kube_or_none, self.helm_or_none)
        self.target = Target(host, self.kube, self.helm, on_output)

    def close(self) -> None:
        if self._kube is not None:
            self._kube.close()
            self._kube = None
        self._scratch.cleanup()

    def __enter__(self) -> ClusterSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def worker(self, host: Host, on_output: OutputCallback | None = None) -> tuple[LiveFacts, Target]:
        """Facts and a target for another machine joining this cluster: its own host, this cluster's API."""
        return LiveFacts(host, self.kube_or_none, self.helm_or_none), Target(host, self.kube, self.helm, on_output)

    def kubeconfig(self) -> Path | None:
        if self._kubeconfig is not None:
            return self._kubeconfig
        if self.settings.kubeconfig.is_file():
            self._kubeconfig = self.settings.kubeconfig
            return self._kubeconfig
        try:
            text = self.host.get(ADMIN_CONF, sudo=True).decode()
        except CommandFailed:
            return None
        if self.settings.remote is not None:
            text = with_server(text, api_server_url(self.settings.remote))
        self._kubeconfig = write_private(Path(self._scratch.name) / "admin.conf", text)
        return self._kubeconfig

    def kube_or_none(self) -> Kube | None:
        if self._kube is None:
            path = self.kubeconfig()
            if path is None:
                return None
            from sparkctl.kube import Kube

            self._kube = Kube.from_kubeconfig(path)
        return self._kube

    def kube(self) -> Kube:
        kube = self.kube_or_none()
        if kube is None:
            from sparkctl.errors import KubeUnreachable

            raise KubeUnreachable(
                f"there is no cluster on {self.host.name} to talk to ({ADMIN_CONF} is missing)",
                hint="Run `sparkctl cluster up`; kubeadm init writes it.",
            )
        return kube

    def helm_or_none(self) -> Helm | None:
        from sparkctl.helm import Helm
        from sparkctl.helm_install import find_helm

        executable = find_helm()
        kubeconfig = self.kubeconfig()
        if executable is None or kubeconfig is None:
            return None
        return Helm(executable, kubeconfig)

    def helm(self) -> Helm:
        from sparkctl.errors import HelmError

        helm = self.helm_or_none()
        if helm is None:
            raise HelmError(
                "helm or the cluster's kubeconfig is missing", hint="Run `sparkctl cluster up`: step 8 installs helm."
            )
        return helm
