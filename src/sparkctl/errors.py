"""The one error hierarchy of sparkctl.

Every error a user can cause or meet carries a message (what happened) and a hint
(what to do). Only the CLI edge prints them.
"""

from __future__ import annotations


class SparkctlError(Exception):
    """Base of every error sparkctl reports to a user."""

    exit_code: int = 1
    default_hint: str = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class ConfigError(SparkctlError):
    """A configuration file, option or environment variable is wrong."""


class CatalogError(ConfigError):
    """models.toml is missing, malformed or inconsistent."""


class UnknownModel(SparkctlError):
    """A model name that the catalog cannot route."""


class HostError(SparkctlError):
    """Running something on a host failed."""


class HostUnreachable(HostError):
    """The host could not be reached at all."""


class AuthenticationFailed(HostError):
    """The host refused our credentials."""


class HostKeyMismatch(HostError):
    """The host presented a key different from the one recorded for it."""


class SudoError(HostError):
    """sudo refused: no password available, or a wrong one."""


class CommandTimeout(HostError):
    """A command did not finish within its time limit."""


class CommandFailed(HostError):
    """A command exited non-zero where success was required."""

    def __init__(self, message: str, hint: str | None = None, *, rc: int, stderr: str = "") -> None:
        super().__init__(message, hint)
        self.rc = rc
        self.stderr = stderr


class ProcessError(SparkctlError):
    """A local server or service did not start, or stopped."""


class PortInUse(ProcessError):
    """A port that a local server needs is already taken."""


class ServiceUnavailable(SparkctlError):
    """A server that a service depends on is down, slow or failing: the same request may work later."""


class ArchiveError(SparkctlError):
    """An archive is corrupt or hostile and was refused."""


class HelmError(SparkctlError):
    """Helm could not be found, installed or run, or a helm command failed; helm's own message is in it."""


class KubeError(SparkctlError):
    """The Kubernetes API refused or failed a request."""


class KubeUnreachable(KubeError):
    """The Kubernetes API server did not answer, or is not ready."""


class KubeTimeout(KubeError):
    """Something in the cluster did not reach the awaited state in time."""


class KubeForbidden(KubeError):
    """The API server rejected the kubeconfig's credentials (401) or its permissions (403)."""


class KubeNotFound(KubeError):
    """An object or a namespace the request needs does not exist."""


class KubeConflict(KubeError):
    """The object exists already, or changed while we were changing it."""


class KubeInvalid(KubeError):
    """The API server refused an object as invalid (400 or 422)."""
