"""How facts are declared and read.

A fact is a small object: a read-only command and a parser of its output (`HostFact`), or a query of
the Kubernetes API (`KubeFact`) or of Helm (`HelmFact`). A tool that is missing, or a cluster that does
not exist yet, gives the fact's default rather than an error. `LiveFacts` reads each fact once and keeps
it until `refresh()`; tests give the same facts from fixture files instead.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from sparkctl.errors import SparkctlError

if TYPE_CHECKING:
    from sparkctl.helm import Helm
    from sparkctl.hosts import Host
    from sparkctl.kube import Kube

T = TypeVar("T")


class FactError(SparkctlError):
    """A fact could not be read, and no default stands in for it."""


class Fact(Generic[T]):
    """One thing known about the host or its cluster. `key` names it in fixtures and caches."""

    args: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        name = type(self).__name__
        return f"{name}({', '.join(self.args)})" if self.args else name

    def default(self) -> T:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.key


class HostFact(Fact[T]):
    """A read-only shell command on the host, and `process` to parse what it printed.

    The command runs only when `requires` is on the host's PATH; otherwise the fact is its default.
    A non-zero exit goes to `failed`, which gives the default unless the fact says otherwise.
    """

    command: ClassVar[str]
    requires: ClassVar[str | None] = None
    sudo: ClassVar[bool] = False

    def script(self) -> str:
        """The command as it runs, guarded so that a missing tool prints a marker instead of failing."""
        command = self.command_line()
        if self.requires is None:
            return command
        return f"command -v {shlex.quote(self.requires)} >/dev/null 2>&1 || {{ echo {_MISSING}; exit 0; }}\n{command}"

    def command_line(self) -> str:
        return self.command

    def process(self, output: str) -> T:
        raise NotImplementedError

    def failed(self, rc: int, output: str, error: str) -> T:
        """The default when the fact has one; otherwise what failed, as an error."""
        try:
            return self.default()
        except NotImplementedError:
            said = " ".join((error.strip() or output.strip() or "no output").split())[:300]
            raise FactError(
                f"could not read {self.key}: `{self.command_line()}` exited with {rc}: {said}",
                hint="sparkctl needs a Linux host with coreutils, procps and iproute2 (ss).",
            ) from None

    def from_output(self, rc: int, output: str, error: str = "") -> T:
        """The fact's value from what its script left; the one path both live reads and fixtures take."""
        if output.strip() == _MISSING:
            return self.default()
        if rc != 0:
            return self.failed(rc, output, error)
        return self.process(output)


_MISSING = "__sparkctl_missing_command__"


class KubeFact(Fact[T]):
    """A read of the Kubernetes API; the default when there is no cluster to ask."""

    def query(self, kube: Kube) -> T:
        raise NotImplementedError


class HelmFact(Fact[T]):
    """A read of Helm's releases; the default when there is no cluster to ask."""

    def query(self, helm: Helm) -> T:
        raise NotImplementedError


class LocalFact(Fact[T]):
    """Something about the machine that runs sparkctl (which may not be the host)."""

    def read(self) -> T:
        raise NotImplementedError


class Facts(Protocol):
    """Facts as steps see them: `facts.get(SomeFact())`."""

    def get(self, fact: Fact[T]) -> T: ...


class RefreshableFacts(Facts, Protocol):
    """Facts that can be read again, as a plan's apply needs before and after each step."""

    def refresh(self) -> None: ...


class LiveFacts:
    """Facts read from a real host and cluster (or a cluster only: host None), each once until `refresh()`.

    `kube` and `helm` give a client, or None when there is no cluster to ask (no kubeconfig yet); a
    cluster that exists but does not answer raises, since an unhealthy cluster is not an empty one.
    """

    def __init__(
        self,
        host: Host | None,
        kube: Callable[[], Kube | None],
        helm: Callable[[], Helm | None],
    ) -> None:
        self.host = host
        self._kube = kube
        self._helm = helm
        self._cache: dict[str, Any] = {}

    def get(self, fact: Fact[T]) -> T:
        if fact.key not in self._cache:
            self._cache[fact.key] = self._read(fact)
        return self._cache[fact.key]  # type: ignore[no-any-return]

    def refresh(self) -> None:
        self._cache.clear()

    def _read(self, fact: Fact[T]) -> T:
        if isinstance(fact, HostFact):
            if self.host is None:
                raise TypeError(f"{fact.key} is a host fact, and these facts have no host")
            result = self.host.run(fact.script(), sudo=fact.sudo, check=False, timeout=60)
            return fact.from_output(result.rc, result.stdout, result.stderr)
        if isinstance(fact, KubeFact):
            kube = self._kube()
            return fact.default() if kube is None else fact.query(kube)
        if isinstance(fact, HelmFact):
            helm = self._helm()
            return fact.default() if helm is None else fact.query(helm)
        if isinstance(fact, LocalFact):
            return fact.read()
        raise TypeError(f"{fact.key} is not a host, Kubernetes or Helm fact")
