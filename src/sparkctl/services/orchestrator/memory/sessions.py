"""Chat sessions in PostgreSQL: every message, the session's summary and its embedding (recall memory),
and the counters that decide when a session is summarised and archived.

Promotion is driven by these rows, not by timers in a process: a summary is due when a session has
`promote_after` more user turns than its summary covers, and one process claims it with an UPDATE
(a claim older than CLAIM_TIMEOUT is taken over, so work cut off by a restart is done again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from psycopg import AsyncConnection
from psycopg.rows import dict_row

CLAIM_TIMEOUT = "10 minutes"


@dataclass(frozen=True)
class Recalled:
    session: str
    summary: str
    similarity: float


@dataclass(frozen=True)
class SessionInfo:
    id: str
    workspace: str
    user_turns: int
    summary: str | None
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workspace": self.workspace,
            "user_turns": self.user_turns,
            "summary": self.summary,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{value:.6g}" for value in vector.tolist()) + "]"


@dataclass(frozen=True)
class Progress:
    """Where a session stands against its promotion thresholds."""

    user_turns: int
    summary_turns: int
    archived_turns: int
    has_summary: bool

    def summary_due(self, every: int) -> bool:
        return self.user_turns >= self.summary_turns + every

    def archive_due(self, every: int) -> bool:
        return self.has_summary and self.summary_turns >= self.archived_turns + every


async def record_turn(
    conn: AsyncConnection, workspace: str, session: str, turn_id: str, messages: Sequence[dict[str, Any]]
) -> Progress | None:
    """Store a turn's messages once: None when a turn of this id was stored before (nothing changes), else
    where the session now stands against its promotion thresholds."""
    roles = [str(m.get("role")) for m in messages]
    contents = [storable(str(m.get("content") or "")) for m in messages]
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO chat_sessions (workspace, id) VALUES (%s, %s) ON CONFLICT (workspace, id) DO NOTHING",
            (workspace, session),
        )
        cursor = await conn.execute(
            """
            INSERT INTO chat_messages (workspace, session_id, role, content, turn_id, turn_seq)
            SELECT %s, %s, role, content, %s, seq
            FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS m(role, content, seq)
            ORDER BY seq
            ON CONFLICT (turn_id, turn_seq) DO NOTHING
            RETURNING role
            """,
            (workspace, session, turn_id, roles, contents),
        )
        inserted = [row[0] for row in await cursor.fetchall()]
        if not inserted and messages:
            return None
        cursor = await conn.execute(
            """
            UPDATE chat_sessions SET user_turns = user_turns + %s, updated_at = now()
            WHERE workspace = %s AND id = %s
            RETURNING user_turns, summary_turns, archived_turns, summary IS NOT NULL
            """,
            (inserted.count("user"), workspace, session),
        )
        row = await cursor.fetchone()
    assert row is not None
    return Progress(int(row[0]), int(row[1]), int(row[2]), bool(row[3]))


def storable(text: str) -> str:
    """PostgreSQL's text holds no NUL character: it is stored as U+FFFD, the replacement character."""
    return text.replace("\x00", "\ufffd")


async def recall(
    conn: AsyncConnection, workspace: str, session: str, vector: np.ndarray, *, limit: int, threshold: float
) -> list[Recalled]:
    """Summaries of the workspace's other sessions most similar to `vector`, at least `threshold` similar."""
    literal = vector_literal(vector)
    cursor = await conn.execute(
        """
        SELECT id, summary, 1 - (summary_embedding <=> %s::vector) AS similarity
        FROM chat_sessions
        WHERE workspace = %s AND id <> %s AND summary_embedding IS NOT NULL
          AND vector_dims(summary_embedding) = %s
        ORDER BY summary_embedding <=> %s::vector
        LIMIT %s
        """,
        (literal, workspace, session, len(vector), literal, limit),
    )
    rows = await cursor.fetchall()
    return [Recalled(row[0], row[1], float(row[2])) for row in rows if float(row[2]) >= threshold]


async def claim_summary(conn: AsyncConnection, workspace: str, session: str, every: int) -> int | None:
    """Claim a due summary: the user turns it will cover, or None when none is due or another has it."""
    cursor = await conn.execute(
        f"""
        UPDATE chat_sessions SET summary_claimed_at = now()
        WHERE workspace = %s AND id = %s AND user_turns >= summary_turns + %s
          AND (summary_claimed_at IS NULL OR summary_claimed_at < now() - interval '{CLAIM_TIMEOUT}')
        RETURNING user_turns
        """,
        (workspace, session, every),
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else None


async def save_summary(
    conn: AsyncConnection, workspace: str, session: str, summary: str, vector: np.ndarray, turns: int
) -> None:
    await conn.execute(
        """
        UPDATE chat_sessions
        SET summary = %s, summary_embedding = %s::vector, summary_turns = %s, summary_claimed_at = NULL
        WHERE workspace = %s AND id = %s
        """,
        (summary, vector_literal(vector), turns, workspace, session),
    )


async def release_summary(conn: AsyncConnection, workspace: str, session: str) -> None:
    await conn.execute(
        "UPDATE chat_sessions SET summary_claimed_at = NULL WHERE workspace = %s AND id = %s", (workspace, session)
    )


async def claim_archive(conn: AsyncConnection, workspace: str, session: str, every: int) -> tuple[str, int] | None:
    """Claim a due archival: (summary, turns it covers), or None."""
    cursor = await conn.execute(
        f"""
        UPDATE chat_sessions SET archive_claimed_at = now()
        WHERE workspace = %s AND id = %s AND summary IS NOT NULL AND summary_turns >= archived_turns + %s
          AND (archive_claimed_at IS NULL OR archive_claimed_at < now() - interval '{CLAIM_TIMEOUT}')
        RETURNING summary, summary_turns
        """,
        (workspace, session, every),
    )
    row = await cursor.fetchone()
    return (str(row[0]), int(row[1])) if row else None


async def finish_archive(conn: AsyncConnection, workspace: str, session: str, turns: int | None) -> None:
    """Record the archived turns (None: the attempt failed, release the claim only)."""
    await conn.execute(
        """
        UPDATE chat_sessions SET archive_claimed_at = NULL, archived_turns = COALESCE(%s, archived_turns)
        WHERE workspace = %s AND id = %s
        """,
        (turns, workspace, session),
    )


async def due_sessions(conn: AsyncConnection, promote_after: int, archive_after: int) -> list[tuple[str, str]]:
    """(workspace, session) pairs with a summary or an archival due and not claimed by a live process."""
    cursor = await conn.execute(
        f"""
        SELECT workspace, id FROM chat_sessions
        WHERE (user_turns >= summary_turns + %s
               AND (summary_claimed_at IS NULL OR summary_claimed_at < now() - interval '{CLAIM_TIMEOUT}'))
           OR (summary IS NOT NULL AND summary_turns >= archived_turns + %s
               AND (archive_claimed_at IS NULL OR archive_claimed_at < now() - interval '{CLAIM_TIMEOUT}'))
        """,
        (promote_after, archive_after),
    )
    return [(row[0], row[1]) for row in await cursor.fetchall()]


async def messages_of(conn: AsyncConnection, workspace: str, session: str, limit: int = 1000) -> list[dict[str, Any]]:
    cursor = await conn.cursor(row_factory=dict_row).execute(
        """
        SELECT role, content, created_at FROM (
            SELECT id, role, content, created_at FROM chat_messages
            WHERE workspace = %s AND session_id = %s ORDER BY id DESC LIMIT %s
        ) recent ORDER BY id
        """,
        (workspace, session, limit),
    )
    return [{**row, "created_at": row["created_at"].isoformat()} for row in await cursor.fetchall()]


async def session_info(conn: AsyncConnection, workspace: str, session: str) -> SessionInfo | None:
    cursor = await conn.execute(
        """SELECT id, workspace, user_turns, summary, created_at, updated_at FROM chat_sessions
           WHERE workspace = %s AND id = %s""",
        (workspace, session),
    )
    row = await cursor.fetchone()
    return SessionInfo(*row) if row else None


async def list_sessions(conn: AsyncConnection, workspace: str, limit: int) -> list[SessionInfo]:
    cursor = await conn.execute(
        """SELECT id, workspace, user_turns, summary, created_at, updated_at FROM chat_sessions
           WHERE workspace = %s ORDER BY updated_at DESC LIMIT %s""",
        (workspace, limit),
    )
    return [SessionInfo(*row) for row in await cursor.fetchall()]


async def delete_session(conn: AsyncConnection, workspace: str, session: str) -> bool:
    cursor = await conn.execute("DELETE FROM chat_sessions WHERE workspace = %s AND id = %s", (workspace, session))
    return cursor.rowcount > 0
