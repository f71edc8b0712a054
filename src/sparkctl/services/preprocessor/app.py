"""The preprocessor service: parse files into entities, relationships and chunks; forward them to LightRAG."""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response
from pydantic import BaseModel, Field, model_validator

from sparkctl.errors import SparkctlError
from sparkctl.services.common.body_limit import BodyLimit
from sparkctl.services.common.metrics import Metrics, install_metrics
from sparkctl.services.common.parsed import ParsedFile
from sparkctl.services.common.remote import LightragClient
from sparkctl.services.common.service_key import require_service_key
from sparkctl.services.common.workspaces import InvalidWorkspace, validate_workspace
from sparkctl.services.preprocessor.parse import custom_kg, link
from sparkctl.services.preprocessor.pool import ParserPool
from sparkctl.services.preprocessor.settings import PreprocessorSettings

router = APIRouter()


class FileIn(BaseModel):
    """One file: its path in the repository and its bytes, base64-encoded (or `content` for text)."""

    path: str = Field(min_length=1, max_length=4096)
    content_base64: str | None = None
    content: str | None = None

    @model_validator(mode="after")
    def _one_content(self) -> FileIn:
        if (self.content_base64 is None) == (self.content is None):
            raise ValueError("give exactly one of content_base64 and content")
        return self

    def data(self) -> bytes:
        if self.content is not None:
            return self.content.encode()
        try:
            return base64.b64decode(self.content_base64 or "", validate=True)
        except binascii.Error:
            raise HTTPException(400, f"{self.path}: content_base64 is not valid base64") from None


class BatchIn(BaseModel):
    files: list[FileIn] = Field(min_length=1)


class BatchOut(BaseModel):
    files: list[ParsedFile]


class IngestOut(BaseModel):
    workspace: str
    files: int
    skipped: list[tuple[str, str]]
    entities: int
    relationships: int
    chunks: int


def settings_of(request: Request) -> PreprocessorSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def _parse_all(request: Request, files: list[FileIn]) -> list[ParsedFile]:
    pool: ParserPool = request.app.state.pool
    return await pool.parse([(item.path, item.data()) for item in files], settings_of(request).max_file_bytes)


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.post("/parse", response_model=ParsedFile)
async def parse_one(request: Request, item: FileIn) -> ParsedFile:
    return (await _parse_all(request, [item]))[0]


@router.post("/parse/batch", response_model=BatchOut)
async def parse_batch(
    request: Request, batch: BatchIn, settings: PreprocessorSettings = Depends(settings_of)
) -> Response:
    """The files' ParsedFile records, each as the parser processes wrote it (no second validation)."""
    if len(batch.files) > settings.max_batch_files:
        raise HTTPException(413, f"{len(batch.files)} files in one batch; the limit is {settings.max_batch_files}")
    pool: ParserPool = request.app.state.pool
    answers = await pool.parse_json([(item.path, item.data()) for item in batch.files], settings.max_file_bytes)
    return Response(b'{"files":[' + b",".join(answers) + b"]}", media_type="application/json")


@router.post("/ingest", response_model=IngestOut)
async def ingest(
    request: Request,
    batch: BatchIn,
    workspace_header: str | None = Header(default=None, alias="LIGHTRAG-WORKSPACE"),
    settings: PreprocessorSettings = Depends(settings_of),
) -> IngestOut:
    """Parse the files and store them in a workspace's graph: code as a ready-made graph, prose as text."""
    try:
        workspace = validate_workspace(workspace_header)
    except InvalidWorkspace as exc:
        raise HTTPException(400, f"{exc.message}: {exc.hint}") from None
    parsed = await _parse_all(request, batch.files)
    usable = [item for item in parsed if not item.skipped and not item.error]
    code = link([item for item in usable if item.kind == "code"])
    lightrag = LightragClient(request.app.state.http, settings.lightrag_url, settings.service_key)
    kg: dict[str, list[Any]] = custom_kg(code) if code else {"chunks": [], "entities": [], "relationships": []}
    try:
        if kg["chunks"] or kg["entities"]:
            await lightrag.insert_custom_kg(workspace, kg)
        for item in (item for item in usable if item.kind != "code"):
            await lightrag.insert_text(workspace, "\n\n".join(c.content for c in item.chunks), item.path)
    except SparkctlError as exc:
        raise HTTPException(503, exc.message) from None
    return IngestOut(
        workspace=workspace,
        files=len(usable),
        skipped=[(item.path, item.skipped or f"error: {item.error}") for item in parsed if item.skipped or item.error],
        entities=len(kg["entities"]),
        relationships=len(kg["relationships"]),
        chunks=len(kg["chunks"]) + sum(len(item.chunks) for item in usable if item.kind != "code"),
    )


def create_app(settings: PreprocessorSettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = ParserPool(settings.workers)
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(settings.request_timeout, connect=5.0)) as http:
                app.state.http = http
                yield
        finally:
            app.state.pool.close()

    app = FastAPI(title="sparkctl preprocessor", version="1", lifespan=lifespan)
    app.state.settings = settings
    require_service_key(app, settings.service_key)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, setting="SPARKCTL_MAX_BODY_BYTES")
    app.include_router(router)
    install_metrics(app, Metrics("preprocessor"), host=settings.host, port=settings.metrics_port)
    return app
