"""What routes depend on: the settings, the registry, and the caller's workspace, leased for the request."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
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


Use = Literal["read", "write", "any"]


def _leasing(use: Use, doc: str) -> Callable[..., AsyncIterator[Workspace]]:
    async def lease(
        request: Request,
        name: str = Depends(workspace_name),
        registry: WorkspaceRegistry[Workspace] = Depends(get_registry),
        settings: LightragSettings = Depends(get_settings),
    ) -> AsyncIterator[Workspace]:
        async with _leased(request, name, registry, settings, use) as workspace:
            yield workspace

    lease.__doc__ = doc
    return lease


get_workspace = _leasing(
    "read",
    """The workspace's LightRAG for the length of the request, refused when another embedder indexed it.

    Whatever LightRAG raises while opening the workspace or serving the route is turned into the
    error of the backend that caused it (see backends.attribute_failure).""",
)
get_writable_workspace = _leasing(
    "write", "The workspace for a write: the first write records this service's embedder as the workspace's."
)
get_any_workspace = _leasing("any", "The workspace whatever embedder indexed it (to clear it).")


@contextlib.asynccontextmanager
async def _leased(
    request: Request,
    name: str,
    registry: WorkspaceRegistry[Workspace],
    settings: LightragSettings,
    use: Use,
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
