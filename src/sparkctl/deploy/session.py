"""The cluster as the deploy commands reach it: this machine's kubeconfig, its API, and helm."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sparkctl.cluster.actions import Target
from sparkctl.cluster.facts import LiveFacts
from sparkctl.cluster.kubeconfig import local_kubeconfig_path, open_cluster
from sparkctl.errors import SparkctlError

if TYPE_CHECKING:
    from sparkctl.helm import Helm
    from sparkctl.hosts import HostFacts, OutputCallback, Result
    from sparkctl.kube import Kube


class ClusterOnly:
    """The Host of plans that change the cluster only: any command on a host is a mistake, said as such."""

    name = "the cluster"

    def _refuse(self) -> SparkctlError:
        return SparkctlError("this plan acts on the cluster's API only, not on a host")

    def run(self, command: object, **options: object) -> Result:
        raise self._refuse()

    def put(self, path: str, data: bytes, *, mode: int = 0o644, sudo: bool = False) -> None:
        raise self._refuse()

    def get(self, path: str, *, sudo: bool = False) -> bytes:
        raise self._refuse()

    def facts(self) -> HostFacts:
        raise self._refuse()


class DeploySession:
    """A client of the cluster (its API answering) and helm, with facts and a target for the deploy plans."""

    def __init__(self, host_spec: str | None, kubeconfig: Path | None, on_output: OutputCallback | None = None):
        from sparkctl.helm import Helm
        from sparkctl.helm_install import require_helm

        executable = require_helm("the deploy commands install their charts with it")
        self.kubeconfig = local_kubeconfig_path(host_spec, kubeconfig)
        self.kube: Kube = open_cluster(host_spec, kubeconfig)
        self.helm: Helm = Helm(executable, self.kubeconfig)
        self.facts = LiveFacts(None, lambda: self.kube, lambda: self.helm)
        self.target = Target(ClusterOnly(), lambda: self.kube, lambda: self.helm, on_output)

    @property
    def server(self) -> str:
        return self.kube.server

    def close(self) -> None:
        self.kube.close()

    def __enter__(self) -> DeploySession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
