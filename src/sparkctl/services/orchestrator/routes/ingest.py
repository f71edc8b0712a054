"""POST /v1/documents/ingest and /v1/codebase/ingest: store the upload, record a job, queue it, answer 202.

Starlette spools each uploaded file to a temporary file; from there it goes to PostgreSQL piece by piece,
so no upload is ever held whole in memory.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import PurePosixPath
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from sparkctl.services.common import files as file_index
from sparkctl.services.common import jobs, messaging
from sparkctl.services.common.remote import WORKSPACE_HEADER
from sparkctl.services.common.service_key import service_headers
from sparkctl.services.orchestrator.auth import Caller, authenticate, request_workspace, require_workspace
from sparkctl.services.orchestrator.errors import ApiError
from sparkctl.services.orchestrator.resources import Resources, resources, where
from sparkctl.services.preprocessor.languages import document_kind_of

log = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])

_READ_PIECE = 1024 * 1024
REINDEX = "clear the workspace (every source's graph, vectors and file index) before queuing, to index it anew"


@router.post("/v1/codebase/ingest", status_code=202)
async def ingest_codebase(
    request: Request,
    file: Annotated[UploadFile, File(description="tar, tar.gz, tar.bz2, tar.xz or zip of the repository")],
    name: Annotated[str | None, Form(description="the codebase's name (default: the archive's)")] = None,
    reindex: Annotated[bool, Form(description=REINDEX)] = False,
    prose: Annotated[
        bool, Form(description="whether the archive holds documents (their extraction needs the extract model)")
    ] = True,
    caller: Caller = Depends(authenticate),
    workspace: str = Depends(request_workspace),
    res: Resources = Depends(resources),
) -> dict[str, Any]:
    require_workspace(caller, workspace)
    limit = request.app.state.settings.max_upload_bytes
    _check_size(file, limit)
    await request.app.state.model_servers.require_for_ingest(prose=prose, prose_field="prose")
    source = name or _codebase_name(file.filename or "codebase")
    if reindex:
        await clear_workspace(request, res, workspace)
    return {"jobs": [_summary(job) for job in await _queue(res, workspace, "codebase", [(source, file)], limit)]}


@router.post("/v1/documents/ingest", status_code=202)
async def ingest_documents(
    request: Request,
    files: Annotated[list[UploadFile], File(description="PDF, Markdown, text or code files")],
    reindex: Annotated[bool, Form(description=REINDEX)] = False,
    caller: Caller = Depends(authenticate),
    workspace: str = Depends(request_workspace),
    res: Resources = Depends(resources),
) -> dict[str, Any]:
    require_workspace(caller, workspace)
    limit = request.app.state.settings.max_upload_bytes
    for upload in files:
        _check_size(upload, limit)
    prose = any(document_kind_of(upload.filename or "") for upload in files)
    await request.app.state.model_servers.require_for_ingest(prose=prose)
    uploads = [(upload.filename or f"document-{index}", upload) for index, upload in enumerate(files)]
    if reindex:
        await clear_workspace(request, res, workspace)
    return {"jobs": [_summary(job) for job in await _queue(res, workspace, "document", uploads, limit)]}


def _check_size(upload: UploadFile, limit: int) -> None:
    """Refuse early on the size Starlette counted while spooling the upload; _pieces counts again as it stores."""
    if upload.size == 0:
        raise _empty(upload)
    if upload.size is not None and upload.size > limit:
        raise _too_large(upload, limit)


async def _pieces(upload: UploadFile, limit: int) -> AsyncIterator[bytes]:
    """The upload, read piece by piece from its spooled file; 413 as soon as it passes the limit."""
    await upload.seek(0)
    size = 0
    while piece := await upload.read(_READ_PIECE):
        size += len(piece)
        if size > limit:
            raise _too_large(upload, limit)
        yield piece


def _too_large(upload: UploadFile, limit: int) -> ApiError:
    return ApiError(
        413,
        f"{upload.filename or 'upload'} is larger than the limit of {limit} bytes "
        "(the orchestrator's SPARKCTL_MAX_UPLOAD_BYTES)",
        "too_large",
    )


def _empty(upload: UploadFile) -> ApiError:
    return ApiError(400, f"{upload.filename or 'upload'} is empty", "empty_upload")


async def _queue(
    res: Resources, workspace: str, kind: jobs.JobKind, uploads: list[tuple[str, UploadFile]], limit: int
) -> list[jobs.Job]:
    """Store every upload and record its job in one transaction, then publish the jobs.

    An upload refused while it is stored (too large, empty) leaves no document, chunk or job behind. A job
    that cannot be published is marked failed, not lost, and so are those after it.
    """
    queued: list[jobs.Job] = []
    async with res.pool.connection() as conn, conn.transaction():
        for source, upload in uploads:
            document = await jobs.store_document(
                conn,
                workspace=workspace,
                name=upload.filename or source,
                content_type=upload.content_type or "application/octet-stream",
                data=_pieces(upload, limit),
            )
            if document.size == 0:
                raise _empty(upload)
            queued.append(await jobs.create_job(conn, document=document, kind=kind, source=source))
    for index, job in enumerate(queued):
        try:
            await messaging.publish_job(await res.nats.jetstream(), job.id, kind)
        except Exception as exc:
            reason = exc.message if isinstance(exc, ApiError) else f"NATS publish failed: {exc}"
            async with res.pool.connection() as conn:
                for unpublished in queued[index:]:
                    await jobs.finish_job(conn, unpublished.id, error=f"could not queue the job: {reason}")
            raise ApiError(503, reason, "queue_unavailable") from exc
    return queued


async def clear_workspace(request: Request, res: Resources, workspace: str) -> None:
    """Empty the workspace in LightRAG and forget its file index, so that the job indexes everything anew with
    the stack's embedder. Done before the job is queued: no job of this request can race it."""
    settings = request.app.state.settings
    headers = {**service_headers(settings.service_key), WORKSPACE_HEADER: workspace}
    try:
        response = await res.http.delete(f"{settings.lightrag_url}/documents", headers=headers, timeout=120)
    except httpx.HTTPError as exc:
        raise ApiError(503, f"LightRAG at {where(settings.lightrag_url)} is unreachable ({type(exc).__name__})",
                       "lightrag_unavailable") from exc  # fmt: skip
    if response.status_code >= 400:
        status = response.status_code if response.status_code in (409, 503) else 502
        raise ApiError(
            status, f"LightRAG could not clear workspace {workspace}: {error_text(response)}", "reindex_failed"
        )
    async with res.pool.connection() as conn:
        await file_index.forget_workspace(conn, workspace)
    log.info("workspace %s cleared for a re-index", workspace)


def error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return str(error.get("message") or response.text[:200])
    except (ValueError, AttributeError):
        return response.text[:200]


def _codebase_name(filename: str) -> str:
    name = PurePosixPath(filename.replace("\\", "/")).name
    for suffix in (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".zip"):
        if name.endswith(suffix):
            return name[: -len(suffix)] or "codebase"
    return name or "codebase"


def _summary(job: jobs.Job) -> dict[str, Any]:
    return {"id": str(job.id), "status": job.status, "workspace": job.workspace, "kind": job.kind, "source": job.source}
