"""The entity names of each parsed file, kept so that a re-ingest parses only what changed.

Linking resolves a call or a base class against every entity name of the repository (linking.SymbolIndex), so
before this record every file was parsed again when one changed. Names depend on nothing but a file's path and
content, so they are kept per (workspace, source, path) with the content's sha256, and used only while the sha256
matches; `NAMES_FORMAT` changes when the parser names entities differently, which makes every record stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection

TABLE = "sparkctl_file_symbols"
NAMES_FORMAT = 1
_CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    workspace text NOT NULL,
    source text NOT NULL,
    path text NOT NULL,
    sha256 text NOT NULL,
    names_format integer NOT NULL,
    names text[] NOT NULL,
    PRIMARY KEY (workspace, source, path)
)
"""


class SymbolRecords:
    """The table, created on first use (it is the worker's own, like the LightRAG service's embedder records)."""

    def __init__(self) -> None:
        self._ready = False

    async def known(
        self, conn: AsyncConnection[Any], workspace: str, source: str, digests: dict[str, str]
    ) -> dict[str, list[str]]:
        """path → entity names of every file whose recorded content is the one in `digests`."""
        await self._create(conn)
        cursor = await conn.execute(
            f"SELECT path, sha256, names FROM {TABLE} WHERE workspace = %s AND source = %s AND names_format = %s",
            (workspace, source, NAMES_FORMAT),
        )
        return {path: list(names) for path, sha, names in await cursor.fetchall() if digests.get(path) == sha}

    async def remember(
        self, conn: AsyncConnection[Any], workspace: str, source: str, files: Iterable[tuple[str, str, list[str]]]
    ) -> None:
        """Record (path, sha256, names) of parsed files."""
        rows = [(workspace, source, path, sha, NAMES_FORMAT, names) for path, sha, names in files]
        if not rows:
            return
        await self._create(conn)
        async with conn.cursor() as cursor:
            await cursor.executemany(
                f"""
                INSERT INTO {TABLE} (workspace, source, path, sha256, names_format, names)
                VALUES (%s, %s, %s, %s, %s, %s)
                ON CONFLICT (workspace, source, path)
                DO UPDATE SET sha256 = excluded.sha256, names_format = excluded.names_format, names = excluded.names
                """,
                rows,
            )

    async def forget(self, conn: AsyncConnection[Any], workspace: str, source: str, paths: list[str]) -> None:
        if not paths:
            return
        await self._create(conn)
        await conn.execute(
            f"DELETE FROM {TABLE} WHERE workspace = %s AND source = %s AND path = ANY(%s)", (workspace, source, paths)
        )

    async def _create(self, conn: AsyncConnection[Any]) -> None:
        if not self._ready:
            await conn.execute(_CREATE)
            self._ready = True
