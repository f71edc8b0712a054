"""The digests' store in PostgreSQL: repositories (per workspace), their commits, each commit's summary, and one
digest per repository and day, each row with the model that wrote it.

Every write is an idempotent upsert keyed by (repository, sha) or (repository, day): a commit sent twice is
stored once, a commit summarised once is never summarised again, a day's digest written again replaces the
previous one.
"""

from __future__ import annotations

from datetime import date, datetime

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field


class FileChangeIn(BaseModel):
    path: str = Field(max_length=4096)
    insertions: int | None = None
    deletions: int | None = None
    old_path: str | None = Field(default=None, max_length=4096)


class CommitIn(BaseModel):
    """A commit as the collector sends it (POST /v1/digests)."""

    sha: str = Field(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")
    parents: list[str] = []
    author: str = Field(max_length=512)
    email: str = Field(max_length=512)
    authored_at: datetime
    committed_at: datetime
    message: str = Field(max_length=256 * 1024)
    files: list[FileChangeIn] = Field(default=[], max_length=100_000)
    diff: str = Field(default="", max_length=1024 * 1024)
    diff_truncated: bool = False

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]

    @property
    def insertions(self) -> int:
        return sum(change.insertions or 0 for change in self.files)

    @property
    def deletions(self) -> int:
        return sum(change.deletions or 0 for change in self.files)


class StoredCommit(CommitIn):
    summary: str | None = None


class Digest(BaseModel):
    repository: str
    day: date
    markdown: str
    model: str
    commits: int
    updated_at: datetime


async def repository_id(conn: AsyncConnection, workspace: str, name: str) -> int:
    cursor = await conn.execute(
        """
        INSERT INTO digest_repositories (workspace, name) VALUES (%s, %s)
        ON CONFLICT (workspace, name) DO UPDATE SET name = EXCLUDED.name
        RETURNING id
        """,
        (workspace, name),
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def store_commits(conn: AsyncConnection, repository: int, commits: list[CommitIn]) -> int:
    """Store the commits not stored yet; how many were new."""
    new = 0
    async with conn.cursor() as cursor:
        for commit in commits:
            await cursor.execute(
                """
                INSERT INTO digest_commits (repository_id, sha, author, email, authored_at, committed_at, message,
                                            parents, files, insertions, deletions, diff, diff_truncated)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (repository_id, sha) DO NOTHING
                """,
                (
                    repository, commit.sha, _text(commit.author), _text(commit.email), commit.authored_at,
                    commit.committed_at, _text(commit.message), commit.parents,
                    Jsonb([change.model_dump() for change in commit.files]), commit.insertions, commit.deletions,
                    _text(commit.diff), commit.diff_truncated,
                ),
            )  # fmt: skip
            new += cursor.rowcount
    return new


async def commits_of(
    conn: AsyncConnection, repository: int, since: datetime, until: datetime, *, summarised: bool | None = None
) -> list[StoredCommit]:
    """The repository's commits committed in [since, until), oldest first, with their summaries when written;
    `summarised` False: only those without one."""
    condition = {None: "", True: "AND s.summary IS NOT NULL", False: "AND s.summary IS NULL"}[summarised]
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        f"""
        SELECT c.sha, c.parents, c.author, c.email, c.authored_at, c.committed_at, c.message, c.files, c.diff,
               c.diff_truncated, s.summary
        FROM digest_commits c
        LEFT JOIN digest_commit_summaries s ON s.repository_id = c.repository_id AND s.sha = c.sha
        WHERE c.repository_id = %s AND c.committed_at >= %s AND c.committed_at < %s {condition}
        ORDER BY c.committed_at, c.sha
        """,  # type: ignore[arg-type]
        (repository, since, until),
    )
    return [StoredCommit.model_validate(row) for row in await cursor.fetchall()]


async def save_summary(conn: AsyncConnection, repository: int, sha: str, summary: str, model: str) -> None:
    await conn.execute(
        """
        INSERT INTO digest_commit_summaries (repository_id, sha, summary, model) VALUES (%s, %s, %s, %s)
        ON CONFLICT (repository_id, sha) DO NOTHING
        """,
        (repository, sha, _text(summary), model),
    )


async def save_digest(
    conn: AsyncConnection, repository: int, day: date, markdown: str, model: str, commits: int
) -> None:
    await conn.execute(
        """
        INSERT INTO digests (repository_id, day, markdown, model, commits) VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (repository_id, day) DO UPDATE
            SET markdown = EXCLUDED.markdown, model = EXCLUDED.model, commits = EXCLUDED.commits, updated_at = now()
        """,
        (repository, day, _text(markdown), model, commits),
    )


async def digest_counts(conn: AsyncConnection, repository: int) -> dict[date, int]:
    """Day → how many commits its stored digest covers."""
    cursor = await conn.execute("SELECT day, commits FROM digests WHERE repository_id = %s", (repository,))
    return {row[0]: int(row[1]) for row in await cursor.fetchall()}


async def list_digests(
    conn: AsyncConnection,
    workspace: str,
    *,
    repository: str | None = None,
    day: date | None = None,
    limit: int = 30,
) -> list[Digest]:
    """The workspace's digests, newest day first."""
    clauses, params = ["r.workspace = %s"], [workspace]
    if repository is not None:
        clauses.append("r.name = %s")
        params.append(repository)
    if day is not None:
        clauses.append("d.day = %s")
        params.append(day)  # type: ignore[arg-type]
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        f"""
        SELECT r.name AS repository, d.day, d.markdown, d.model, d.commits, d.updated_at
        FROM digests d JOIN digest_repositories r ON r.id = d.repository_id
        WHERE {" AND ".join(clauses)}
        ORDER BY d.day DESC, r.name LIMIT %s
        """,  # type: ignore[arg-type]
        (*params, limit),
    )
    return [Digest.model_validate(row) for row in await cursor.fetchall()]


def _text(value: str) -> str:
    """PostgreSQL's text holds no NUL character (a binary diff or a message may): stored as U+FFFD."""
    return value.replace("\x00", "\ufffd")
