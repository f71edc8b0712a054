"""What a step does, as data: commands on the host, files written, Kubernetes API calls, Helm releases.

Every action renders as one line a person can read and approve (secrets masked), and executes
itself against a `Target`. Steps only build actions; they never run anything themselves.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sparkctl.errors import SparkctlError

if TYPE_CHECKING:
    from sparkctl.helm import Helm
    from sparkctl.hosts import Host, OutputCallback
    from sparkctl.kube import Kube

MASK = "********"


@dataclass(frozen=True)
class Secret:
    """An argument that runs as it is but is shown as a mask in plans and logs."""

    value: str

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"


Arg = str | Secret


@dataclass
class Target:
    """Where actions execute: the host, and the cluster's API and Helm once they exist."""

    host: Host
    kube: Callable[[], Kube]
    helm: Callable[[], Helm]
    on_output: OutputCallback | None = None


class Action(Protocol):
    def render(self) -> str: ...

    def execute(self, target: Target) -> None: ...


@dataclass(frozen=True)
class Run:
    """A command on the host, run as root; the host adds sudo when the user is not root."""

    argv: tuple[Arg, ...]
    timeout: float = 600.0

    def render(self) -> str:
        return " ".join(MASK if isinstance(arg, Secret) else shlex.quote(arg) for arg in self.argv)

    def execute(self, target: Target) -> None:
        argv = [arg.value if isinstance(arg, Secret) else arg for arg in self.argv]
        with masked([arg for arg in self.argv if isinstance(arg, Secret)]):
            target.host.run(argv, sudo=True, timeout=self.timeout, on_output=target.on_output)


@contextmanager
def masked(secrets: Sequence[Secret]) -> Iterator[None]:
    """Errors raised inside name a failed command with its secrets masked (the host quotes what it ran)."""
    try:
        yield
    except SparkctlError as error:
        for secret in (secret.value for secret in secrets if secret.value):
            for attribute in ("message", "hint", "stderr"):
                if isinstance(getattr(error, attribute, None), str):
                    setattr(error, attribute, getattr(error, attribute).replace(secret, MASK))
        error.args = (error.message,)
        raise


def run(*argv: Arg, timeout: float = 600.0) -> Run:
    return Run(tuple(argv), timeout=timeout)


@dataclass(frozen=True)
class Shell:
    """A short shell script on the host, as root, for pipes and redirections; it holds no secrets."""

    script: str
    timeout: float = 600.0

    def render(self) -> str:
        return self.script

    def execute(self, target: Target) -> None:
        target.host.run(self.script, sudo=True, timeout=self.timeout, on_output=target.on_output)


@dataclass(frozen=True)
class WriteFile:
    """A whole file on the host, written atomically as root."""

    path: str
    content: str
    mode: int = 0o644

    def render(self) -> str:
        lines = self.content.count("\n") + (0 if self.content.endswith("\n") or not self.content else 1)
        return f"write {self.path} ({self.mode:04o}, {lines} line{'s' if lines != 1 else ''})"

    def execute(self, target: Target) -> None:
        target.host.put(self.path, self.content.encode(), mode=self.mode, sudo=True)


@dataclass(frozen=True)
class KubeCall:
    """One of the Kubernetes helpers (apply, wait, remove a taint, …), described by what it does."""

    description: str
    call: Callable[[Kube], object] = field(compare=False)

    def render(self) -> str:
        return f"kubernetes: {self.description}"

    def execute(self, target: Target) -> None:
        self.call(target.kube())


@dataclass(frozen=True)
class HelmRelease:
    """`helm upgrade --install` of a pinned chart with the given values."""

    release: str
    chart: str
    repo: str | None
    version: str
    namespace: str
    values: Mapping[str, Any]
    timeout: float = 900.0

    def render(self) -> str:
        settings = " ".join(f"--set {key}={value}" for key, value in flatten(self.values))
        repo = f" --repo {self.repo}" if self.repo else ""
        return (
            f"helm upgrade --install {self.release} {self.chart}{repo} --version {self.version} "
            f"--namespace {self.namespace} --create-namespace --wait {settings}"
        ).rstrip()

    def execute(self, target: Target) -> None:
        target.helm().upgrade_install(
            self.release,
            self.chart,
            repo=self.repo,
            version=self.version,
            namespace=self.namespace,
            values=dict(self.values),
            timeout=self.timeout,
        )


@dataclass(frozen=True)
class ChartInstall:
    """`helm upgrade --install` of one of sparkctl's own charts with generated values, summed up in one line
    (the values themselves are shown by --output json, the manifests by --output yaml)."""

    release: str
    chart_dir: str
    namespace: str
    values: Mapping[str, Any] = field(compare=False)
    summary: str
    wait: bool = False
    timeout: float = 900.0

    def render(self) -> str:
        return (
            f"helm upgrade --install {self.release} {self.chart_dir} --namespace {self.namespace} "
            f"--create-namespace ({self.summary})"
        )

    def execute(self, target: Target) -> None:
        target.helm().upgrade_install(
            self.release,
            self.chart_dir,
            repo=None,
            version=None,
            namespace=self.namespace,
            values=dict(self.values),
            wait=self.wait,
            timeout=self.timeout,
        )


@dataclass(frozen=True)
class HelmUninstall:
    """`helm uninstall`, waiting until the release's resources are gone; nothing when it is not installed."""

    release: str
    namespace: str
    timeout: float = 600.0

    def render(self) -> str:
        return f"helm uninstall {self.release} --namespace {self.namespace} --wait"

    def execute(self, target: Target) -> None:
        target.helm().uninstall(self.release, self.namespace, wait=True, timeout=self.timeout)


@dataclass(frozen=True)
class LocalAction:
    """Something done on the machine that runs sparkctl, not on the host (Helm's binary, a kubeconfig)."""

    description: str
    call: Callable[[Target], object] = field(compare=False)

    def render(self) -> str:
        return f"local: {self.description}"

    def execute(self, target: Target) -> None:
        self.call(target)


def flatten(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested chart values as `a.b.c` keys with scalar values, in a stable order."""
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            pairs.extend(flatten(value, path + "."))
        elif isinstance(value, bool):
            pairs.append((path, "true" if value else "false"))
        elif isinstance(value, Sequence) and not isinstance(value, str):
            pairs.append((path, json.dumps(value, separators=(",", ":"))))
        else:
            pairs.append((path, str(value)))
    return pairs
