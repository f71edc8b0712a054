"""What a step is: a check of the facts, the actions that would fix what it found, and a verification."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from sparkctl.cluster import pins
from sparkctl.cluster.actions import Action
from sparkctl.cluster.facts import Facts
from sparkctl.helm_install import helm_install_dir

GiB = 1024**3


@dataclass(frozen=True)
class Done:
    """Nothing to do, and why."""

    reason: str
    state: ClassVar[str] = "done"


@dataclass(frozen=True)
class Missing:
    """Never done on this host."""

    reason: str
    state: ClassVar[str] = "missing"


@dataclass(frozen=True)
class Drifted:
    """Done once, but no longer as it should be."""

    reason: str
    state: ClassVar[str] = "drifted"


@dataclass(frozen=True)
class Present:
    """Still on the host, and to be removed (the steps of `cluster down`)."""

    reason: str
    state: ClassVar[str] = "present"


@dataclass(frozen=True)
class Refused:
    """Cannot go on: something a person must decide or fix first (the hint says what)."""

    reason: str
    hint: str = ""
    state: ClassVar[str] = "refused"


Check = Done | Missing | Drifted | Present | Refused


@dataclass(frozen=True)
class Settings:
    """What the steps aim for: from models.toml's [platform], the command line and where sparkctl runs."""

    kubernetes_version: str = "1.34"
    pod_cidr: str = "10.244.0.0/16"
    gpu_slices: int = 5
    min_free_disk: int = 100 * GiB
    gpu_operator_version: str = pins.GPU_OPERATOR_VERSION
    longhorn_version: str = pins.LONGHORN_VERSION
    reset: bool = False
    purge: bool = False
    """`cluster down --purge`: Longhorn and its data (model weights included) go too."""
    remote: str | None = None
    """The host's name when sparkctl runs elsewhere (its kubeconfig is then fetched to this machine)."""
    kubeconfig: Path = field(default_factory=lambda: Path("~/.kube/config").expanduser())
    """Where this machine's copy of the cluster's kubeconfig is (or goes)."""
    helm_dir: Path = field(default_factory=helm_install_dir)
    """Where Helm is installed on this machine when it has none."""


def release_drift(release: dict[str, Any], version: str) -> str | None:
    """Why a Helm release is not the pinned chart version, deployed; None when it is."""
    if release["chart_version"].lstrip("v") == version.lstrip("v") and release["status"] == "deployed":
        return None
    return f"release {release['name']} is {release['chart_version']} ({release['status']}), want {version}"


class Step:
    """One stage of `cluster up`, `down` or `join`. Subclasses implement `check` and `actions`; both only read facts."""

    number: ClassVar[int]
    name: ClassVar[str]
    title: ClassVar[str]
    changes: ClassVar[Literal["host", "cluster", "local", "none"]] = "host"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def check(self, facts: Facts) -> Check:
        raise NotImplementedError

    def actions(self, facts: Facts) -> list[Action]:
        raise NotImplementedError

    def verify(self, facts: Facts) -> Check:
        """The step's check against facts read again after it applied; `Done` when it worked."""
        return self.check(facts)
