"""Ingest jobs and their documents in PostgreSQL: the record a client follows to draw progress.

A job moves queued → started → indexing → completed | failed. The orchestrator creates it with its
document; the worker moves it along and fills the counters.
"""

from __future__ import annotations

import gzip
import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel

JobKind = Literal["document", "codebase"]
JobStatus = Literal["queued", "started", "indexing", "completed", "failed"]
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed"})
MAX_SKIPPED_FILES_KEPT = 200
"""Skipped files are counted by reason; only this many are named individually."""


class Job(BaseModel):
    id: uuid.UUID
    document_id: uuid.UUID
    workspace: str
    kind: JobKind
    source: str
    status: JobStatus
    attempts: int
    error: str | None
    files_total: int
    files_done: int
    files_unchanged: int
    files_skipped: int
    files_deleted: int
    skipped: dict[str, int]
    skipped_files: list[tuple[str, str]]
    entities: int
    relations: int
    chunks: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


class StoredDocument(BaseModel):
    id: uuid.UUID
    workspace: str
    name: str
    content_type: str
    size: int
    sha256: str


async def store_document(
    conn: AsyncConnection, *, workspace: str, name: str, content_type: str, data: bytes
) -> StoredDocument:
    """Keep an uploaded blob (gzip-compressed) so that a retried job can read it again."""
    document = StoredDocument(
        id=uuid.uuid4(),
        workspace=workspace,
        name=name,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    await conn.execute(
        """
        INSERT INTO documents (id, workspace, name, content_type, size, sha256, blob)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        """,
        (document.id, workspace, name, content_type, document.size, document.sha256, gzip.compress(data, 6)),
    )
    return document


async def load_document(conn: AsyncConnection, document_id: uuid.UUID) -> tuple[StoredDocument, bytes] | None:
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        "SELECT id, workspace, name, content_type, size, sha256, blob FROM documents WHERE id = %s", (document_id,)
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    blob = gzip.decompress(row.pop("blob"))
    return StoredDocument(**row), blob


async def create_job(conn: AsyncConnection, *, document: StoredDocument, kind: JobKind, source: str) -> Job:
    job_id = uuid.uuid4()
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        """
        INSERT INTO ingest_jobs (id, document_id, workspace, kind, source)
        VALUES (%s, %s, %s, %s, %s) RETURNING *
        """,
        (job_id, document.id, document.workspace, kind, source),
    )
    return _job(await cursor.fetchone())


async def get_job(conn: AsyncConnection, job_id: uuid.UUID) -> Job | None:
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute("SELECT * FROM ingest_jobs WHERE id = %s", (job_id,))
    row = await cursor.fetchone()
    return _job(row) if row else None


async def list_jobs(
    conn: AsyncConnection, *, workspaces: list[str] | None = None, status: str | None = None, limit: int = 50
) -> list[Job]:
    """Newest first; `workspaces` None means every workspace."""
    clauses, params = [], []
    if workspaces is not None:
        clauses.append("workspace = ANY(%s)")
        params.append(workspaces)
    if status is not None:
        clauses.append("status = %s")
        params.append(status)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        f"SELECT * FROM ingest_jobs {where} ORDER BY created_at DESC LIMIT %s",  # type: ignore[arg-type]
        (*params, limit),
    )
    return [_job(row) for row in await cursor.fetchall()]


async def start_attempt(conn: AsyncConnection, job_id: uuid.UUID) -> Job | None:
    """Count a delivery of the job and move it to started; None when the job is unknown."""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        """
        UPDATE ingest_jobs
        SET status = 'started', attempts = attempts + 1, error = NULL,
            started_at = coalesce(started_at, now()), updated_at = now()
        WHERE id = %s RETURNING *
        """,
        (job_id,),
    )
    row = await cursor.fetchone()
    return _job(row) if row else None


_COUNTERS = (
    "files_total",
    "files_done",
    "files_unchanged",
    "files_skipped",
    "files_deleted",
    "entities",
    "relations",
    "chunks",
)


async def update_progress(
    conn: AsyncConnection,
    job_id: uuid.UUID,
    *,
    status: JobStatus | None = None,
    skipped: Mapping[str, int] | None = None,
    skipped_files: list[tuple[str, str]] | None = None,
    **counters: int,
) -> None:
    """Set the given counters (absolute values) and, optionally, the status and skip record."""
    unknown = set(counters) - set(_COUNTERS)
    if unknown:
        raise ValueError(f"unknown job counters: {sorted(unknown)}")
    assignments = [f"{name} = %s" for name in counters]
    params: list[Any] = list(counters.values())
    if status is not None:
        assignments.append("status = %s")
        params.append(status)
    if skipped is not None:
        assignments.append("skipped = %s")
        params.append(Jsonb(dict(skipped)))
    if skipped_files is not None:
        assignments.append("skipped_files = %s")
        params.append(Jsonb([list(item) for item in skipped_files[:MAX_SKIPPED_FILES_KEPT]]))
    assignments.append("updated_at = now()")
    await conn.execute(
        f"UPDATE ingest_jobs SET {', '.join(assignments)} WHERE id = %s",  # type: ignore[arg-type]
        (*params, job_id),
    )


async def finish_job(conn: AsyncConnection, job_id: uuid.UUID, *, error: str | None = None) -> None:
    """completed, or failed with the reason."""
    await conn.execute(
        """
        UPDATE ingest_jobs SET status = %s, error = %s, finished_at = now(), updated_at = now() WHERE id = %s
        """,
        ("failed" if error else "completed", error, job_id),
    )


def _job(row: dict[str, Any] | None) -> Job:
    assert row is not None
    row["skipped_files"] = [tuple(item) for item in row["skipped_files"]]
    return Job(**row)
