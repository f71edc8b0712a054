"""GET /v1/jobs, /v1/jobs/{id}, /v1/jobs/{id}/events (SSE progress until the job ends) and /v1/jobs/events (SSE
changes of every job of a workspace, until the client leaves)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from sparkctl.services.common import jobs
from sparkctl.services.common.workspaces import InvalidWorkspace, validate_workspace
from sparkctl.services.orchestrator.auth import Caller, authenticate, request_workspace, require_workspace
from sparkctl.services.orchestrator.errors import ApiError
from sparkctl.services.orchestrator.job_feed import JobFeed
from sparkctl.services.orchestrator.resources import Resources, resources

router = APIRouter(tags=["jobs"])

EVENT_POLL_SECONDS = 0.25
FEED_POLL_SECONDS = 0.5
EVENT_KEEPALIVE_SECONDS = 15.0


@router.get("/v1/jobs")
async def list_jobs(
    request: Request,
    workspace: str | None = Query(default=None),
    status: jobs.JobStatus | None = Query(default=None),
    limit: int = Query(default=50, ge=1, le=500),
    caller: Caller = Depends(authenticate),
    res: Resources = Depends(resources),
) -> dict[str, Any]:
    """The jobs of ?workspace=, else of the X-Workspace header, else of every workspace the key may see."""
    workspace = workspace or request.headers.get("x-workspace")
    if workspace is not None:
        try:
            workspace = validate_workspace(workspace)
        except InvalidWorkspace as exc:
            raise ApiError(400, f"{exc.message}: {exc.hint}", "invalid_workspace") from None
        require_workspace(caller, workspace)
        scope: list[str] | None = [workspace]
    else:
        scope = sorted(caller.workspaces) if caller.workspaces is not None else None
    async with res.pool.connection() as conn:
        found = await jobs.list_jobs(conn, workspaces=scope, status=status, limit=limit)
    return {"object": "list", "data": [job.model_dump(mode="json") for job in found]}


@router.get("/v1/jobs/events")
async def workspace_job_events(
    caller: Caller = Depends(authenticate),
    workspace: str = Depends(request_workspace),
    res: Resources = Depends(resources),
) -> StreamingResponse:
    """The X-Workspace jobs as they change: a `job` event for each of the newest 50 as they stand, then one per
    change of any job of the workspace, with a `: keepalive` comment every 15 s of quiet; it ends when the client
    leaves."""
    require_workspace(caller, workspace)
    feed = JobFeed(res.pool, workspace)
    first = await feed.start()
    return StreamingResponse(
        _feed_events(feed, first), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.get("/v1/jobs/{job_id}")
async def get_job(
    job_id: uuid.UUID, caller: Caller = Depends(authenticate), res: Resources = Depends(resources)
) -> dict[str, Any]:
    return (await _visible_job(res, caller, job_id)).model_dump(mode="json")


@router.get("/v1/jobs/{job_id}/events")
async def job_events(
    job_id: uuid.UUID, caller: Caller = Depends(authenticate), res: Resources = Depends(resources)
) -> StreamingResponse:
    first = await _visible_job(res, caller, job_id)
    return StreamingResponse(
        _progress(res, first), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


async def _visible_job(res: Resources, caller: Caller, job_id: uuid.UUID) -> jobs.Job:
    async with res.pool.connection() as conn:
        job = await jobs.get_job(conn, job_id)
    if job is None:
        raise ApiError(404, f"no job {job_id}", "job_not_found")
    require_workspace(caller, job.workspace)
    return job


async def _progress(res: Resources, job: jobs.Job) -> AsyncIterator[bytes]:
    """One `job` event per change of the record, then `end` once it is completed or failed."""
    yield _event("job", job.model_dump(mode="json"))
    last_change, quiet = job.updated_at, 0.0
    while not job.finished:
        await asyncio.sleep(EVENT_POLL_SECONDS)
        async with res.pool.connection() as conn:
            current = await jobs.get_job(conn, job.id)
        if current is None:
            break
        job = current
        if job.updated_at != last_change:
            last_change, quiet = job.updated_at, 0.0
            yield _event("job", job.model_dump(mode="json"))
        else:
            quiet += EVENT_POLL_SECONDS
            if quiet >= EVENT_KEEPALIVE_SECONDS:
                quiet = 0.0
                yield b": keep-alive\n\n"
    yield _event("end", {"id": str(job.id), "status": job.status, "error": job.error})


async def _feed_events(feed: JobFeed, first: list[jobs.Job]) -> AsyncIterator[bytes]:
    for job in first:
        yield _event("job", job.model_dump(mode="json"))
    quiet = 0.0
    while True:
        await asyncio.sleep(FEED_POLL_SECONDS)
        changed = await feed.changes()
        for job in changed:
            yield _event("job", job.model_dump(mode="json"))
        quiet = 0.0 if changed else quiet + FEED_POLL_SECONDS
        if quiet >= EVENT_KEEPALIVE_SECONDS:
            quiet = 0.0
            yield b": keepalive\n\n"


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
