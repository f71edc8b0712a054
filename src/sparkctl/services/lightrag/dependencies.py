"""What routes depend on: the settings, the registry, and the caller's workspace, leased for the request."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import Depends, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError

from sparkctl.errors import SparkctlError
from sparkctl.services.common.workspaces import validate_workspace
from sparkctl.services.lightrag.backends import attribute_failure
from sparkctl.services.lightrag.embedders import EmbedderRecords
from sparkctl.services.lightrag.engine import Workspace
from sparkctl.services.lightrag.registry import WorkspaceRegistry
from sparkctl.services.lightrag.settings import LightragSettings

WORKSPACE_HEADER = "LIGHTRAG-WORKSPACE"


def get_settings(request: Request) -> LightragSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_registry(request: Request) -> WorkspaceRegistry[Workspace]:
    return request.app.state.registry  # type: ignore[no-any-return]


def workspace_name(lightrag_workspace: str | None = Header(default=None, alias=WORKSPACE_HEADER)) -> str:
    """The validated workspace of the request (InvalidWorkspace, a 400, otherwise)."""
    return validate_workspace(lightrag_workspace)


async def get_workspace(
    request: Request,
    name: str = Depends(workspace_name),
    registry: WorkspaceRegistry[Workspace] = Depends(get_registry),
    settings: LightragSettings = Depends(get_settings),
) -> AsyncIterator[Workspace]:
    """The workspace's LightRAG for the length of the request, refused when another embedder indexed it.

    Whatever LightRAG raises while opening the workspace or serving the route is turned into the
    error of the backend that caused it (see backends.attribute_failure).
    """
    async with _leased(request, name, registry, settings, "read") as workspace:
        yield workspace


async def get_any_workspace(
    request: Request,
    name: str = Depends(workspace_name),
    registry: WorkspaceRegistry[Workspace] = Depends(get_registry),
    settings: LightragSettings = Depends(get_settings),
) -> AsyncIterator[Workspace]:
    """The workspace whatever embedder indexed it (to clear it)."""
    async with _leased(request, name, registry, settings, "any") as workspace:
        yield workspace


async def get_writable_workspace(
    request: Request,
    name: str = Depends(workspace_name),
    registry: WorkspaceRegistry[Workspace] = Depends(get_registry),
    settings: LightragSettings = Depends(get_settings),
) -> AsyncIterator[Workspace]:
    """The workspace for a write: the first write records this service's embedder as the workspace's."""
    async with _leased(request, name, registry, settings, "write") as workspace:
        yield workspace


@contextlib.asynccontextmanager
async def _leased(
    request: Request,
    name: str,
    registry: WorkspaceRegistry[Workspace],
    settings: LightragSettings,
    use: Literal["read", "write", "any"],
) -> AsyncIterator[Workspace]:
    embedders: EmbedderRecords = request.app.state.embedders
    try:
        if use == "write":
            await embedders.record(name)
        elif use == "read":
            await embedders.check(name)
        async with registry.lease(name) as workspace:
            yield workspace
    except (SparkctlError, HTTPException, RequestValidationError):
        raise
    except Exception as exc:
        raise await attribute_failure(exc, settings) from exc
