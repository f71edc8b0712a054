"""POST /v1/documents/ingest and /v1/codebase/ingest: store the upload, record a job, queue it, answer 202."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from sparkctl.services.common import jobs, messaging
from sparkctl.services.orchestrator.auth import Caller, authenticate, request_workspace, require_workspace
from sparkctl.services.orchestrator.errors import ApiError
from sparkctl.services.orchestrator.resources import Resources, resources

log = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])

_READ_PIECE = 1024 * 1024


@router.post("/v1/codebase/ingest", status_code=202)
async def ingest_codebase(
    request: Request,
    file: Annotated[UploadFile, File(description="tar, tar.gz, tar.bz2, tar.xz or zip of the repository")],
    name: Annotated[str | None, Form(description="the codebase's name (default: the archive's)")] = None,
    caller: Caller = Depends(authenticate),
    workspace: str = Depends(request_workspace),
    res: Resources = Depends(resources),
) -> dict[str, Any]:
    require_workspace(caller, workspace)
    data = await _read_limited(file, request.app.state.settings.max_upload_bytes)
    source = name or _codebase_name(file.filename or "codebase")
    job = await _queue(res, workspace, "codebase", source, file, data)
    return {"jobs": [_summary(job)]}


@router.post("/v1/documents/ingest", status_code=202)
async def ingest_documents(
    request: Request,
    files: Annotated[list[UploadFile], File(description="PDF, Markdown, text or code files")],
    caller: Caller = Depends(authenticate),
    workspace: str = Depends(request_workspace),
    res: Resources = Depends(resources),
) -> dict[str, Any]:
    require_workspace(caller, workspace)
    limit = request.app.state.settings.max_upload_bytes
    uploads = [(upload, await _read_limited(upload, limit)) for upload in files]
    queued = [
        await _queue(res, workspace, "document", upload.filename or f"document-{index}", upload, data)
        for index, (upload, data) in enumerate(uploads)
    ]
    return {"jobs": [_summary(job) for job in queued]}


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    pieces, size = [], 0
    while piece := await upload.read(_READ_PIECE):
        size += len(piece)
        if size > limit:
            raise ApiError(413, f"{upload.filename or 'upload'} is larger than the limit of {limit} bytes", "too_large")
        pieces.append(piece)
    if size == 0:
        raise ApiError(400, f"{upload.filename or 'upload'} is empty", "empty_upload")
    return b"".join(pieces)


async def _queue(
    res: Resources, workspace: str, kind: jobs.JobKind, source: str, upload: UploadFile, data: bytes
) -> jobs.Job:
    """The job is recorded before it is published; if publishing fails it is marked failed, not lost."""
    async with res.pool.connection() as conn:
        document = await jobs.store_document(
            conn,
            workspace=workspace,
            name=upload.filename or source,
            content_type=upload.content_type or "application/octet-stream",
            data=data,
        )
        job = await jobs.create_job(conn, document=document, kind=kind, source=source)
    try:
        await messaging.publish_job(await res.nats.jetstream(), job.id, kind)
    except Exception as exc:
        reason = exc.message if isinstance(exc, ApiError) else f"NATS publish failed: {exc}"
        async with res.pool.connection() as conn:
            await jobs.finish_job(conn, job.id, error=f"could not queue the job: {reason}")
        raise ApiError(503, reason, "queue_unavailable") from exc
    return job


def _codebase_name(filename: str) -> str:
    name = PurePosixPath(filename.replace("\\", "/")).name
    for suffix in (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".zip"):
        if name.endswith(suffix):
            return name[: -len(suffix)] or "codebase"
    return name or "codebase"


def _summary(job: jobs.Job) -> dict[str, Any]:
    return {"id": str(job.id), "status": job.status, "workspace": job.workspace, "kind": job.kind, "source": job.source}
