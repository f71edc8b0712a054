"""Ingest jobs and their documents in PostgreSQL: the record a client follows to draw progress.

A job moves queued → started → indexing → completed | failed. The orchestrator creates it with its
document; the worker moves it along and fills the counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from datetime import datetime
from typing import IO, Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from sparkctl.errors import SparkctlError

JobKind = Literal["document", "codebase", "digest"]
JobStatus = Literal["queued", "started", "indexing", "completed", "failed"]
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed"})
MAX_SKIPPED_FILES_KEPT = 200
"""Skipped files are counted by reason; only this many are named individually."""
PIECE_BYTES = 1024 * 1024
"""An upload is stored in rows of this many bytes (document_chunks), never as one value."""


class DamagedDocument(SparkctlError):
    """A stored upload whose bytes no longer match the size and sha256 recorded with it."""


class Job(BaseModel):
    id: uuid.UUID
    document_id: uuid.UUID | None
    """The upload of a document or codebase job; None for a digest job, whose commits are in digest_commits."""
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
    params: dict[str, Any] = {}
    """What a digest job covers: repository, since, until, model."""

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
    conn: AsyncConnection,
    *,
    workspace: str,
    name: str,
    content_type: str,
    data: bytes | AsyncIterable[bytes],
) -> StoredDocument:
    """Keep an upload, so that a retried job can read it again: rows of document_chunks of at most
    PIECE_BYTES each, written as the pieces of `data` arrive and hashed as they pass.

    Nothing holds more than a piece or two of the upload. It all happens in one transaction (a savepoint
    when the caller has one open): an error raised by `data` (a size limit, say) leaves nothing behind.
    """
    document_id = uuid.uuid4()
    digest = hashlib.sha256()
    size = seq = 0
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO documents (id, workspace, name, content_type, size, sha256) VALUES (%s, %s, %s, %s, 0, '')",
            (document_id, workspace, name, content_type),
        )
        async for piece in _rechunked(data):
            await asyncio.to_thread(digest.update, piece)
            size += len(piece)
            await conn.execute(
                "INSERT INTO document_chunks (document_id, seq, data) VALUES (%s, %s, %b)", (document_id, seq, piece)
            )
            seq += 1
        await conn.execute(
            "UPDATE documents SET size = %s, sha256 = %s WHERE id = %s", (size, digest.hexdigest(), document_id)
        )
    return StoredDocument(
        id=document_id, workspace=workspace, name=name, content_type=content_type, size=size, sha256=digest.hexdigest()
    )


async def load_document(conn: AsyncConnection, document_id: uuid.UUID, into: IO[bytes]) -> StoredDocument | None:
    """Write a stored upload into `into` (a spooled temporary file, say) piece by piece; None when it is gone.

    The bytes written are checked against the document's size and sha256: a damaged upload raises
    DamagedDocument rather than reaching the worker's parsers.
    """
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        "SELECT id, workspace, name, content_type, size, sha256, blob IS NOT NULL AS legacy FROM documents"
        " WHERE id = %s",
        (document_id,),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    pieces = _legacy_pieces(conn, document_id) if row.pop("legacy") else _stored_pieces(conn, document_id)
    document = StoredDocument(**row)
    digest = hashlib.sha256()
    size = 0
    async with contextlib.aclosing(pieces):
        async for piece in pieces:
            digest.update(piece)
            size += len(piece)
            into.write(piece)
    if (size, digest.hexdigest()) != (document.size, document.sha256):
        raise DamagedDocument(
            f"the stored upload {document.name} ({document.id}) is damaged: {size} bytes with sha256 "
            f"{digest.hexdigest()}, {document.size} bytes with sha256 {document.sha256} were stored",
            hint="Upload it again.",
        )
    return document


async def _rechunked(data: bytes | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The bytes of `data` in pieces of PIECE_BYTES (the last one shorter), whatever size they came in."""
    if isinstance(data, bytes):
        for start in range(0, len(data), PIECE_BYTES):
            yield data[start : start + PIECE_BYTES]
        return
    pending = bytearray()
    async for piece in data:
        if not pending and len(piece) == PIECE_BYTES:
            yield piece
            continue
        pending += piece
        while len(pending) >= PIECE_BYTES:
            yield bytes(pending[:PIECE_BYTES])
            del pending[:PIECE_BYTES]
    if pending:
        yield bytes(pending)


async def _stored_pieces(conn: AsyncConnection, document_id: uuid.UUID) -> AsyncIterator[bytes]:
    """The document's chunks in order, one row at a time from the server."""
    cursor = conn.cursor()
    async for (piece,) in cursor.stream(
        "SELECT data FROM document_chunks WHERE document_id = %s ORDER BY seq", (document_id,), binary=True
    ):
        yield piece


async def _legacy_pieces(conn: AsyncConnection, document_id: uuid.UUID) -> AsyncIterator[bytes]:
    """A document stored before migration 3, as one gzip-compressed blob: read in slices, inflated as it comes."""
    inflater = zlib.decompressobj(wbits=31)
    offset = 1
    while True:
        cursor = await conn.execute(
            "SELECT substring(blob FROM %s FOR %s) FROM documents WHERE id = %s", (offset, PIECE_BYTES, document_id)
        )
        row = await cursor.fetchone()
        compressed = row[0] if row else b""
        if not compressed:
            break
        offset += len(compressed)
        while compressed:
            yield inflater.decompress(compressed, PIECE_BYTES)
            compressed = inflater.unconsumed_tail
    yield inflater.flush()


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


async def create_digest_job(conn: AsyncConnection, *, workspace: str, repository: str, params: dict[str, Any]) -> Job:
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        """
        INSERT INTO ingest_jobs (id, workspace, kind, source, params)
        VALUES (%s, %s, 'digest', %s, %s) RETURNING *
        """,
        (uuid.uuid4(), workspace, repository, Jsonb(params)),
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
