"""Which embedder indexed each workspace.

LightRAG keeps the vectors of each embedding model in tables of their own, so a workspace searched with
another embedder than the one that indexed it finds nothing, silently. A workspace therefore records its
embedder (name and dimensions) at its first write, and a service running another embedder refuses the
workspace with what it was indexed with, until the workspace is cleared and indexed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparkctl.errors import SparkctlError

if TYPE_CHECKING:
    from psycopg import AsyncConnection

TABLE = "sparkctl_workspace_embedders"
_CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    workspace text PRIMARY KEY,
    embedder text NOT NULL,
    dimensions integer NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Embedder:
    name: str
    dimensions: int

    def __str__(self) -> str:
        return f"{self.name} ({self.dimensions} dimensions)"


class EmbedderChanged(SparkctlError):
    """The workspace was indexed with another embedder than the one this service runs."""

    default_hint = (
        "Index it again with this embedder (`sparkctl ingest --reindex PATH`), or run the stack with the "
        "embedder it was indexed with (`sparkctl local up --embedder …`, SPARKCTL_EMBEDDER)."
    )


class EmbedderRecords:
    """The workspaces' embedders in LightRAG's PostgreSQL database; those known to match are remembered."""

    def __init__(self, database_url: str, current: Embedder) -> None:
        self.database_url = database_url
        self.current = current
        self._matching: set[str] = set()
        self._table_ready = False

    async def check(self, workspace: str) -> None:
        """Raise EmbedderChanged when the workspace recorded another embedder."""
        if workspace in self._matching:
            return
        recorded = await self._recorded(workspace)
        self._verify(workspace, recorded)
        if recorded is not None:
            self._matching.add(workspace)

    async def record(self, workspace: str) -> None:
        """Record this service's embedder for a workspace that has none, then check it (before a write)."""
        if workspace in self._matching:
            return
        async with await self._connect() as conn:
            await conn.execute(
                f"INSERT INTO {TABLE} (workspace, embedder, dimensions) VALUES (%s, %s, %s) "
                "ON CONFLICT (workspace) DO NOTHING",
                (workspace, self.current.name, self.current.dimensions),
            )
        await self.check(workspace)

    async def forget(self, workspace: str) -> None:
        """The workspace was cleared: its next write records the embedder anew."""
        self._matching.discard(workspace)
        async with await self._connect() as conn:
            await conn.execute(f"DELETE FROM {TABLE} WHERE workspace = %s", (workspace,))

    async def recorded(self, workspace: str) -> Embedder | None:
        """The embedder the workspace was indexed with; None before its first write."""
        return await self._recorded(workspace)

    async def _recorded(self, workspace: str) -> Embedder | None:
        async with await self._connect() as conn:
            cursor = await conn.execute(f"SELECT embedder, dimensions FROM {TABLE} WHERE workspace = %s", (workspace,))
            row = await cursor.fetchone()
        return Embedder(str(row[0]), int(row[1])) if row else None

    def _verify(self, workspace: str, recorded: Embedder | None) -> None:
        if recorded is not None and recorded != self.current:
            raise EmbedderChanged(
                f"workspace {workspace} was indexed with embedder {recorded}; this service embeds with "
                f"{self.current}, whose searches would find none of its vectors"
            )

    async def _connect(self) -> AsyncConnection[Any]:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(self.database_url, autocommit=True, connect_timeout=5)
        if not self._table_ready:
            await conn.execute(_CREATE)
            self._table_ready = True
        return conn
