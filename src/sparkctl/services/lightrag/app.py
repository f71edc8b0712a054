"""The LightRAG service: one isolated LightRAG instance per workspace behind LightRAG-compatible routes.

Every route takes its workspace from the `LIGHTRAG-WORKSPACE` header. Errors are JSON
`{"error": {"message", "type", "code", "hint"}}`: 400 for a bad workspace or request, 404 for an entity the
graph does not hold, 422 for a malformed body, 409 while the workspace's pipeline refuses a change, 413 for a body over
max_body_bytes, 503 naming the backend that is down (PostgreSQL, Neo4j or the model server), 500
for anything else.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sparkctl.errors import SparkctlError
from sparkctl.services.common.body_limit import BodyLimit
from sparkctl.services.common.llm import LlmError, LlmRefused, LlmWrongEmbeddings, create_http_client
from sparkctl.services.common.metrics import Metrics, install_metrics
from sparkctl.services.common.service_key import require_service_key
from sparkctl.services.common.workspaces import InvalidWorkspace
from sparkctl.services.lightrag import documents, explore, graph, health, queries
from sparkctl.services.lightrag.backends import BackendUnavailable, InvalidPayload, WorkspaceBusy
from sparkctl.services.lightrag.embedders import Embedder, EmbedderChanged, EmbedderRecords
from sparkctl.services.lightrag.engine import Models, Workspace, apply_lightrag_environment, open_workspace
from sparkctl.services.lightrag.graph_view import EntityNotFound
from sparkctl.services.lightrag.names import NameIndex
from sparkctl.services.lightrag.registry import WorkspaceRegistry
from sparkctl.services.lightrag.settings import LightragSettings

logger = logging.getLogger(__name__)


def create_app(settings: LightragSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        apply_lightrag_environment(settings)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        http = create_http_client(settings.llm_timeout)
        models = Models.load(settings, http, app.state.metrics.models)

        async def opener(name: str) -> Workspace:
            return await open_workspace(name, settings, models)

        registry: WorkspaceRegistry[Workspace] = WorkspaceRegistry(opener, settings.max_workspaces)
        app.state.models = models
        app.state.registry = registry
        app.state.embedders = EmbedderRecords(settings.database_url, Embedder(models.embed_name, models.dimensions))
        try:
            yield
        finally:
            await registry.close()
            await http.aclose()
            models.close()

    app = FastAPI(title="sparkctl LightRAG", lifespan=lifespan)
    app.state.settings = settings
    app.state.names = NameIndex()
    require_service_key(app, settings.service_key)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, setting="SPARKCTL_MAX_BODY_BYTES")
    for router in (documents.router, queries.router, graph.router, explore.router, health.router):
        app.include_router(router)
    app.add_exception_handler(SparkctlError, _sparkctl_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    install_metrics(app, Metrics("lightrag"), host=settings.host, port=settings.metrics_port)
    return app


def _status_of(error: SparkctlError) -> tuple[int, str, str]:
    """HTTP status, error type and code of an error."""
    if isinstance(error, InvalidWorkspace):
        return 400, "invalid_request_error", "invalid_workspace"
    if isinstance(error, InvalidPayload):
        return 400, "invalid_request_error", "invalid_payload"
    if isinstance(error, EntityNotFound):
        return 404, "not_found_error", "entity_not_found"
    if isinstance(error, WorkspaceBusy):
        return 409, "conflict", "workspace_busy"
    if isinstance(error, EmbedderChanged):
        return 409, "conflict", "embedder_changed"
    if isinstance(error, LlmWrongEmbeddings):
        return 422, "invalid_request_error", "embedding_mismatch"
    if isinstance(error, LlmRefused):
        return 422, "invalid_request_error", "model_refused"
    if isinstance(error, LlmError):
        return 503, "backend_unavailable", "llm_unavailable"
    if isinstance(error, BackendUnavailable):
        return 503, "backend_unavailable", error.code
    return 500, "internal_error", "internal_error"


async def _sparkctl_error(request: Request, error: SparkctlError) -> JSONResponse:
    status, kind, code = _status_of(error)
    log = logger.warning if status < 500 else logger.error
    log("%s %s: %s", request.method, request.url.path, error)
    body = {"error": {"message": error.message, "type": kind, "code": code, "hint": error.hint}}
    return JSONResponse(body, status_code=status)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = [f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}" for problem in error.errors()]
    body = {
        "error": {
            "message": "invalid request: " + "; ".join(problems),
            "type": "invalid_request_error",
            "code": "invalid_payload",
            "hint": "Fix the request body or parameters.",
        }
    }
    return JSONResponse(body, status_code=422)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    body = {
        "error": {"message": str(error.detail), "type": "invalid_request_error", "code": f"http_{error.status_code}"}
    }
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)
