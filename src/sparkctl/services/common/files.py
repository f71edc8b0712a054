"""The per-workspace file index: which file of which source was indexed with which content.

It makes re-ingesting a codebase incremental (unchanged files are not indexed again) and tells which
files vanished since the last ingest (they are deleted from the workspace's graph).
"""

from __future__ import annotations

import uuid

from psycopg import AsyncConnection


async def indexed_files(conn: AsyncConnection, workspace: str, source: str) -> dict[str, str]:
    """path → sha256 of every file of `source` indexed in `workspace`."""
    cursor = await conn.execute(
        "SELECT path, sha256 FROM workspace_files WHERE workspace = %s AND source = %s", (workspace, source)
    )
    return {path: sha for path, sha in await cursor.fetchall()}


async def record_files(
    conn: AsyncConnection, workspace: str, source: str, files: dict[str, str], job_id: uuid.UUID
) -> None:
    """Remember that these files (path → sha256) are now indexed."""
    if not files:
        return
    async with conn.cursor() as cursor:
        await cursor.executemany(
            """
            INSERT INTO workspace_files (workspace, source, path, sha256, job_id) VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (workspace, source, path)
            DO UPDATE SET sha256 = excluded.sha256, job_id = excluded.job_id, updated_at = now()
            """,
            [(workspace, source, path, sha, job_id) for path, sha in files.items()],
        )


async def forget_workspace(conn: AsyncConnection, workspace: str) -> None:
    """Every file of every source of the workspace: the workspace is about to be indexed anew."""
    await conn.execute("DELETE FROM workspace_files WHERE workspace = %s", (workspace,))


async def forget_files(conn: AsyncConnection, workspace: str, source: str, paths: list[str]) -> None:
    if paths:
        await conn.execute(
            "DELETE FROM workspace_files WHERE workspace = %s AND source = %s AND path = ANY(%s)",
            (workspace, source, paths),
        )
