"""POST /v1/digests (a repository's commits of a window, stored; a digest job queued) and GET /v1/digests."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, ValidationError, model_validator

from sparkctl.catalog import UnknownModel
from sparkctl.services.common import digests, jobs, messaging
from sparkctl.services.common.digests import CommitIn
from sparkctl.services.orchestrator.auth import Caller, authenticate, request_workspace, require_workspace
from sparkctl.services.orchestrator.errors import ApiError
from sparkctl.services.orchestrator.resources import Resources, resources
from sparkctl.services.orchestrator.routes.chat import read_limited

router = APIRouter(tags=["digests"])
REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class DigestRequest(BaseModel):
    repository: str = Field(pattern=REPOSITORY.pattern)
    since: datetime
    until: datetime
    commits: list[CommitIn] = Field(default=[], max_length=20_000)
    model: str | None = Field(default=None, max_length=200, description="default: the catalog's extract model")
    queue: bool = Field(default=True, description="false: store the commits only (a batch of a larger run)")

    @model_validator(mode="after")
    def _window(self) -> DigestRequest:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("since and until need a time zone")
        if self.since >= self.until:
            raise ValueError("since must be before until")
        return self


@router.post("/v1/digests", status_code=202)
async def submit_digest(
    request: Request,
    caller: Caller = Depends(authenticate),
    workspace: str = Depends(request_workspace),
    res: Resources = Depends(resources),
) -> dict[str, Any]:
    """Store the commits (each once, by sha) and, unless `queue` is false, queue the window's digest job."""
    require_workspace(caller, workspace)
    body = await read_limited(request, request.app.state.settings.max_upload_bytes)
    try:
        asked = DigestRequest.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ApiError(400, f"{where}: {first['msg']}" if where else str(first["msg"]), "invalid_request") from None
    if asked.model is not None:
        try:
            request.app.state.router.catalog.resolve(asked.model)
        except UnknownModel as exc:
            raise ApiError(404, f"{exc.message}; {exc.hint}", "model_not_found") from None
    if asked.queue:
        await request.app.state.model_servers.require_for_ingest(prose=True)
    async with res.pool.connection() as conn, conn.transaction():
        repository = await digests.repository_id(conn, workspace, asked.repository)
        new = await digests.store_commits(conn, repository, asked.commits)
        job = None
        if asked.queue:
            params = {"since": asked.since.isoformat(), "until": asked.until.isoformat(), "model": asked.model}
            job = await jobs.create_digest_job(conn, workspace=workspace, repository=asked.repository, params=params)
    answer: dict[str, Any] = {"commits": {"received": len(asked.commits), "new": new}, "jobs": []}
    if job is not None:
        try:
            await messaging.publish_job(await res.nats.jetstream(), job.id, "digest")
        except Exception as exc:
            reason = exc.message if isinstance(exc, ApiError) else f"NATS publish failed: {exc}"
            async with res.pool.connection() as conn:
                await jobs.finish_job(conn, job.id, error=f"could not queue the job: {reason}")
            raise ApiError(503, reason, "queue_unavailable") from exc
        answer["jobs"] = [job.model_dump(mode="json")]
    return answer


@router.get("/v1/digests")
async def list_digests(
    repository: str | None = Query(default=None, pattern=REPOSITORY.pattern),
    day: date | None = Query(default=None),
    limit: int = Query(default=30, ge=1, le=366),
    caller: Caller = Depends(authenticate),
    workspace: str = Depends(request_workspace),
    res: Resources = Depends(resources),
) -> dict[str, Any]:
    """The workspace's digests, newest day first."""
    require_workspace(caller, workspace)
    async with res.pool.connection() as conn:
        found = await digests.list_digests(conn, workspace, repository=repository, day=day, limit=limit)
    return {"object": "list", "data": [digest.model_dump(mode="json") for digest in found]}
