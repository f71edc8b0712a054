"""Workspaces as the console lists them: what PostgreSQL knows of each (indexed files, jobs, chat sessions)
with what LightRAG holds (entities, relations, chunks, embedder), and deleting one from every store.

A workspace exists while PostgreSQL holds anything of it: an indexed file, a stored upload, a job or a chat
session (every graph in LightRAG comes from a job or a session).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection

from sparkctl.services.common.jobs import FINAL_STATUSES
from sparkctl.services.orchestrator.errors import ApiError
from sparkctl.services.orchestrator.explorer import Explorer
from sparkctl.services.orchestrator.memory.working import KEY_PREFIX as TURNS_PREFIX

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool
    from redis.asyncio import Redis

    from sparkctl.services.orchestrator.traces import TraceStore

STATS_CONCURRENCY = 4
"""Workspaces asked of LightRAG at once while a list is made."""
_NAMES = """
    SELECT workspace FROM workspace_files UNION SELECT workspace FROM documents
    UNION SELECT workspace FROM ingest_jobs UNION SELECT workspace FROM chat_sessions
"""


@dataclass(frozen=True)
class LastIngest:
    job_id: str
    state: str
    kind: str
    finished_at: datetime | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "state": self.state,
            "kind": self.kind,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Stored:
    """What PostgreSQL holds of a workspace."""

    files: int
    last_ingest: LastIngest | None


async def stored_names(conn: AsyncConnection, allowed: frozenset[str] | None) -> list[str]:
    """Names of the workspaces PostgreSQL holds anything of (of `allowed` only, unless None), sorted."""
    where, params = ("", ()) if allowed is None else ("WHERE workspace = ANY(%s)", (sorted(allowed),))
    cursor = await conn.execute(
        f"SELECT workspace FROM ({_NAMES}) AS named {where} ORDER BY workspace",  # type: ignore[arg-type]
        params,
    )
    return [str(row[0]) for row in await cursor.fetchall()]


async def stored(conn: AsyncConnection, names: list[str]) -> dict[str, Stored]:
    """Indexed files and newest job of each workspace."""
    files = await _counts(conn, "workspace_files", names)
    cursor = await conn.execute(
        """
        SELECT DISTINCT ON (workspace) workspace, id, status, kind, finished_at, created_at FROM ingest_jobs
        WHERE workspace = ANY(%s) ORDER BY workspace, created_at DESC
        """,
        (names,),
    )
    last = {row[0]: LastIngest(str(row[1]), row[2], row[3], row[4], row[5]) for row in await cursor.fetchall()}
    return {name: Stored(files.get(name, 0), last.get(name)) for name in names}


async def _counts(conn: AsyncConnection, table: str, names: list[str]) -> dict[str, int]:
    cursor = await conn.execute(
        f"SELECT workspace, count(*) FROM {table} WHERE workspace = ANY(%s) GROUP BY workspace",  # type: ignore[arg-type]
        (names,),
    )
    return {str(row[0]): int(row[1]) for row in await cursor.fetchall()}


def describe(name: str, kept: Stored, graph: dict[str, Any]) -> dict[str, Any]:
    """The console's Workspace object."""
    embedder = graph.get("embedder")
    return {
        "name": name,
        "files": kept.files,
        "entities": int(graph.get("entities") or 0),
        "relations": int(graph.get("relations") or 0),
        "chunks": int(graph.get("chunks") or 0),
        "embedder": {"name": embedder["name"], "dimensions": int(embedder["dimensions"])} if embedder else None,
        "last_ingest": kept.last_ingest.to_json() if kept.last_ingest else None,
    }


async def list_workspaces(
    pool: AsyncConnectionPool, explorer: Explorer, allowed: frozenset[str] | None
) -> list[dict[str, Any]]:
    """Every workspace PostgreSQL knows (of `allowed`), with its graph's size from LightRAG."""
    async with pool.connection() as conn:
        names = await stored_names(conn, allowed)
        kept = await stored(conn, names) if names else {}
    gate = asyncio.Semaphore(STATS_CONCURRENCY)

    async def graph_of(name: str) -> dict[str, Any]:
        async with gate:
            return await explorer.stats(name)

    graphs = await asyncio.gather(*(graph_of(name) for name in names))
    return [describe(name, kept[name], graph) for name, graph in zip(names, graphs, strict=True)]


async def show_workspace(pool: AsyncConnectionPool, explorer: Explorer, name: str) -> dict[str, Any]:
    """One workspace; 404 `workspace_not_found` when PostgreSQL holds nothing of it (LightRAG is not asked then:
    every graph comes from a job or a session, and opening a workspace there makes its storages)."""
    async with pool.connection() as conn:
        if not await stored_names(conn, frozenset({name})):
            raise ApiError(404, f"workspace '{name}' holds nothing", "workspace_not_found")
        kept = (await stored(conn, [name]))[name]
    return describe(name, kept, await explorer.stats(name))


async def busy_jobs(conn: AsyncConnection, name: str) -> int:
    cursor = await conn.execute(
        "SELECT count(*) FROM ingest_jobs WHERE workspace = %s AND NOT (status = ANY(%s))",
        (name, sorted(FINAL_STATUSES)),
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Deleted:
    files: int
    sessions: int


async def delete_workspace(
    pool: AsyncConnectionPool, redis: Redis, explorer: Explorer, traces: TraceStore, name: str
) -> Deleted:
    """Clear the workspace in LightRAG first (so a failure there leaves everything to try again), then its file
    records, stored uploads, ended jobs and chat sessions in PostgreSQL, then its turns and traces in Redis.
    409 `workspace_busy` while a job of it is queued or running; a job queued meanwhile is left as it is, with
    its upload."""
    async with pool.connection() as conn:
        if await busy_jobs(conn, name):
            raise ApiError(
                409, f"workspace '{name}' has a job queued or running; delete it once the job has ended",
                "workspace_busy",
            )  # fmt: skip
    await explorer.clear(name)
    async with pool.connection() as conn, conn.transaction():
        files = await _delete(conn, "workspace_files", name)
        sessions = await _delete(conn, "chat_sessions", name)
        await conn.execute(
            "DELETE FROM ingest_jobs WHERE workspace = %s AND status = ANY(%s)", (name, sorted(FINAL_STATUSES))
        )
        await conn.execute(
            """DELETE FROM documents AS d WHERE workspace = %s
               AND NOT EXISTS (SELECT 1 FROM ingest_jobs AS j WHERE j.document_id = d.id)""",
            (name,),
        )
    await _forget_turns(redis, name)
    await traces.forget_workspace(name)
    return Deleted(files, sessions)


async def _delete(conn: AsyncConnection, table: str, name: str) -> int:
    cursor = await conn.execute(f"DELETE FROM {table} WHERE workspace = %s", (name,))  # type: ignore[arg-type]
    return int(cursor.rowcount)


async def _forget_turns(redis: Redis, name: str) -> None:
    """Working memory of every session of the workspace (names and session ids hold no glob character)."""
    keys = [key async for key in redis.scan_iter(match=f"{TURNS_PREFIX}:{name}:*", count=500)]
    for start in range(0, len(keys), 500):
        await redis.delete(*keys[start : start + 500])
