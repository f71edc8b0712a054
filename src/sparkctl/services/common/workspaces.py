"""Workspace names: the unit of tenancy in every service."""

from __future__ import annotations

import re

from sparkctl.errors import SparkctlError

WORKSPACE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_WORKSPACE = "default"


class InvalidWorkspace(SparkctlError):
    """A workspace name outside [A-Za-z0-9_-]{1,64}."""


def validate_workspace(name: str | None) -> str:
    """The workspace name, or InvalidWorkspace; None means the default workspace."""
    if name is None or name == "":
        return DEFAULT_WORKSPACE
    if not WORKSPACE_PATTERN.match(name):
        raise InvalidWorkspace(
            f"invalid workspace name {name[:80]!r}",
            hint="Use 1 to 64 letters, digits, '_' or '-'.",
        )
    return name
