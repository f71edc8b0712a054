"""Helm for the cluster steps: a small synchronous facade over pyhelm3 (helm itself is found or installed by
helm_install.py).

pyhelm3 (and through it pydantic and PyYAML) is imported only when a helm command runs, so `sparkctl --help`
stays fast. pyhelm3 is async; `Helm` runs each call with `asyncio.run`, so it must not be called from inside a
running event loop.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkctl.errors import HelmError
from sparkctl.helm_install import HELM_VERSION

if TYPE_CHECKING:
    import asyncio


_COMMAND_TIMEOUT = 300.0
"""How long a helm command that does not wait for a rollout may run (pulling a chart included)."""
_WAIT_MARGIN = 60.0
"""Time given to helm beyond its own --timeout before the process is stopped."""


@dataclass(frozen=True)
class Release:
    """A helm release as `helm list` or an install reports it."""

    name: str
    namespace: str
    chart: str
    chart_version: str
    app_version: str
    status: str
    revision: int


_CHART_AND_VERSION = re.compile(r"^(?P<chart>.+?)-(?P<version>v?\d+\.\d+(?:\.\d+)?(?:[-+].*)?)$")


def _release_from_list(item: dict[str, Any]) -> Release:
    """`helm list -o json` names the chart as "name-version"; a chart version is SemVer, which splits it."""
    match = _CHART_AND_VERSION.match(chart_ref := str(item.get("chart", "")))
    return Release(
        name=str(item["name"]),
        namespace=str(item.get("namespace", "")),
        chart=match["chart"] if match else chart_ref,
        chart_version=match["version"] if match else "",
        app_version=str(item.get("app_version") or ""),
        status=str(item.get("status", "")),
        revision=int(item.get("revision") or 0),
    )


def _release_from_status(status: dict[str, Any]) -> Release:
    """The release object `helm upgrade --install -o json` prints."""
    metadata = (status.get("chart") or {}).get("metadata") or {}
    return Release(
        name=str(status["name"]),
        namespace=str(status.get("namespace", "")),
        chart=str(metadata.get("name", "")),
        chart_version=str(metadata.get("version", "")),
        app_version=str(metadata.get("appVersion") or ""),
        status=str((status.get("info") or {}).get("status", "")),
        revision=int(status.get("version") or 0),
    )


class Helm:
    """One helm binary and one kubeconfig (None: helm's own default); every helm error becomes a HelmError."""

    def __init__(self, executable: Path, kubeconfig: Path | None = None, *, command_timeout: float = _COMMAND_TIMEOUT):
        if not (executable.is_file() and os.access(executable, os.X_OK)):
            raise HelmError(
                f"helm is not an executable file at {executable}",
                hint=f"install helm {HELM_VERSION} and put it on PATH",
            )
        self.executable = executable
        self.kubeconfig = kubeconfig
        self.command_timeout = command_timeout

    def version(self) -> str:
        """helm's version, such as "v3.20.0"."""
        return self._run("version", lambda c: c.version(), self.command_timeout).strip()

    def releases(self, namespace: str | None = None) -> list[Release]:
        """Deployed, failed and pending releases in a namespace, or in all namespaces when None."""
        items = self._run(
            "list",
            lambda c: c.list(
                all_namespaces=namespace is None,
                namespace=namespace,
                include_deployed=True,
                include_failed=True,
                include_pending=True,
                include_uninstalling=True,
            ),
            self.command_timeout,
        )
        return [_release_from_list(item) for item in items or []]

    def upgrade_install(
        self,
        name: str,
        chart: str | Path,
        *,
        repo: str | None,
        version: str | None,
        namespace: str,
        values: dict[str, Any],
        create_namespace: bool = True,
        wait: bool = True,
        timeout: float = 600,
    ) -> Release:
        """Install the release, or upgrade it to this chart version and these values; the release helm reports."""
        status = self._run(
            f"upgrade --install {name}",
            lambda c: c.install_or_upgrade(
                name,
                str(chart),
                values,
                create_namespace=create_namespace,
                namespace=namespace,
                repo=repo,
                version=version,
                timeout=_duration(timeout),
                wait=wait,
            ),
            timeout + _WAIT_MARGIN,
        )
        return _release_from_status(status)

    def values(self, name: str, namespace: str) -> dict[str, Any] | None:
        """The values the release was installed with (not the chart's defaults); None when it is not installed."""
        from pyhelm3 import errors

        async def get(command: Any) -> dict[str, Any] | None:
            try:
                return dict(await command.get_values(name, namespace=namespace))
            except errors.ReleaseNotFoundError:
                return None

        return self._run(f"get values {name}", get, self.command_timeout)

    def uninstall(self, name: str, namespace: str, *, wait: bool = True, timeout: float = 600) -> bool:
        """Uninstall the release; False when it was not installed."""
        from pyhelm3 import errors

        async def uninstall(command: Any) -> bool:
            try:
                await command.uninstall(name, namespace=namespace, wait=wait, timeout=_duration(timeout))
            except errors.ReleaseNotFoundError:
                return False
            return True

        return self._run(f"uninstall {name}", uninstall, timeout + _WAIT_MARGIN)

    def template(
        self,
        name: str,
        chart: str | Path,
        *,
        repo: str | None,
        version: str | None,
        namespace: str,
        values: dict[str, Any],
    ) -> list[dict[str, Any]]:
        """The manifests the chart renders with these values, without touching a cluster (CRDs in crds/ left out)."""

        async def render(command: Any) -> list[dict[str, Any]]:
            documents = await command.template(
                name, str(chart), values, namespace=namespace, repo=repo, version=version
            )
            return [document for document in documents if document]

        return self._run(f"template {name}", render, self.command_timeout)

    def _run(self, action: str, call: Callable[[Any], Coroutine[Any, Any, Any]], limit: float) -> Any:
        import asyncio

        from pyhelm3 import errors

        command = _command_class()(executable=str(self.executable), kubeconfig=self.kubeconfig)

        async def bounded() -> Any:
            return await asyncio.wait_for(call(command), limit)

        try:
            return asyncio.run(bounded())
        except errors.Error as exc:
            raise _helm_error(action, exc) from None
        except TimeoutError:
            raise HelmError(
                f"helm {action} did not finish within {limit:.0f} s and was stopped",
                hint="check that the cluster and the chart repository are reachable from this machine",
            ) from None


@functools.cache
def _command_class() -> type:
    """pyhelm3's Command, running helm without a shell in a session of its own, so that a time limit stops it.

    pyhelm3 runs `sh -c "helm ..."` and, when cancelled, stops the shell only: helm went on, and the call waited
    for it. pyhelm3 still builds every command line and parses every answer.
    """
    import asyncio

    from pyhelm3 import Command, errors

    class _Command(Command):
        async def run(self, command: list[Any], input: bytes | None = None) -> bytes:
            argv = [self._executable, *map(str, command)]
            if self._kubeconfig is not None:
                argv += ["--kubeconfig", str(self._kubeconfig)]
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
            try:
                stdout, stderr = await process.communicate(input)
            except asyncio.CancelledError:
                await _stop(process)
                raise
            if process.returncode == 0:
                return stdout
            not_found = b"release: not found" in stderr.lower()
            raise (errors.ReleaseNotFoundError if not_found else errors.Error)(process.returncode, stdout, stderr)

    return _Command


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM to helm's process group (helm then marks a release it was changing as failed), SIGKILL after 10 s."""
    import asyncio

    for signal_number, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal_number)
        try:
            await asyncio.wait_for(process.communicate(), grace)
            return
        except TimeoutError:
            continue


def _duration(seconds: float) -> str:
    """helm's --timeout is a Go duration: a bare number is refused."""
    return f"{max(1, round(seconds))}s"


_HINTS = (
    (("cluster unreachable", "etcdserver"), "check that the cluster is up and that --kubeconfig points at it"),
    (("execution error", "parse error", "failed to render"), "fix the chart or the values named in helm's message"),
    (("not found", "no such host", "i/o timeout"), "check the chart, its repository and version, and HTTPS_PROXY"),
)


def _helm_error(action: str, exc: Any) -> HelmError:
    said = _helm_message(exc.stderr.decode(errors="replace"))
    lowered = said.lower()
    hint = next(
        (hint for needles, hint in _HINTS if any(needle in lowered for needle in needles)),
        "helm's message says what went wrong; the same helm command with --debug says more",
    )
    return HelmError(f"helm {action} failed: {said or f'exit code {exc.returncode}'}", hint=hint)


def _helm_message(stderr: str) -> str:
    """helm's error, from its "Error:" line on (warnings printed before it are dropped), as one line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith("Error:"):
            lines = [line.removeprefix("Error:").strip(), *lines[index + 1 :]]
            break
    return " ".join(line for line in lines if not line.startswith("Use --debug flag"))
