"""Facts of the machine that runs sparkctl, which is not the host when it works over SSH."""

from __future__ import annotations

import platform
from pathlib import Path

from sparkctl.cluster.facts.base import LocalFact


class HelmBinary(LocalFact[str | None]):
    """The helm sparkctl would use here, or None."""

    def default(self) -> str | None:
        return None

    def read(self) -> str | None:
        from sparkctl.helm_install import find_helm

        found = find_helm()
        return str(found) if found else None


class LocalMachine(LocalFact[str]):
    """This machine's architecture as `uname -m` says it, for the Helm download."""

    def default(self) -> str:
        return platform.machine()

    def read(self) -> str:
        return platform.machine()


class LocalFileExists(LocalFact[bool]):
    def __init__(self, path: str) -> None:
        self.args = (path,)

    def default(self) -> bool:
        return False

    def read(self) -> bool:
        return Path(self.args[0]).exists()
