"""The changes of one workspace's jobs, as a feed: the newest jobs first, then each job whose record changed.

PostgreSQL is polled for the jobs updated since a watermark, which trails the database's clock by a window:
an update is stamped when its transaction starts and seen once it commits, so a short transaction that
commits late is still caught. The version of each job last sent keeps an unchanged job from being sent again.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from psycopg import AsyncConnection

from sparkctl.services.common import jobs

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

FIRST_JOBS = 50
WINDOW = timedelta(seconds=10)


class JobFeed:
    def __init__(self, pool: AsyncConnectionPool, workspace: str) -> None:
        self.pool = pool
        self.workspace = workspace
        self._sent: dict[uuid.UUID, datetime] = {}
        self._watermark: datetime | None = None

    async def start(self) -> list[jobs.Job]:
        """The workspace's newest jobs, newest first, as they stand."""
        async with self.pool.connection() as conn:
            self._watermark = await _now(conn) - WINDOW
            found = await jobs.list_jobs(conn, workspaces=[self.workspace], limit=FIRST_JOBS)
        self._sent.update((job.id, job.updated_at) for job in found)
        return found

    async def changes(self) -> list[jobs.Job]:
        """The jobs whose record changed since they were last sent (or that were never sent), oldest change first."""
        assert self._watermark is not None, "start() first"
        async with self.pool.connection() as conn:
            now = await _now(conn)
            cursor = await conn.execute(
                "SELECT id, updated_at FROM ingest_jobs WHERE workspace = %s AND updated_at >= %s ORDER BY updated_at",
                (self.workspace, self._watermark),
            )
            changed = [row[0] for row in await cursor.fetchall() if self._sent.get(row[0]) != row[1]]
            found = [job for job in [await jobs.get_job(conn, job_id) for job_id in changed] if job is not None]
        self._sent.update((job.id, job.updated_at) for job in found)
        self._watermark = now - WINDOW
        self._sent = {job_id: stamp for job_id, stamp in self._sent.items() if stamp >= self._watermark}
        return found


async def _now(conn: AsyncConnection) -> datetime:
    cursor = await conn.execute("SELECT now()")
    row = await cursor.fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]
