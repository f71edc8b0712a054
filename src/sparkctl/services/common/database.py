"""The PostgreSQL connection pool every service uses."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool


def create_pool(
    url: str, *, min_size: int = 1, max_size: int = 8, name: str = "sparkctl", timeout: float = 30.0
) -> AsyncConnectionPool:
    """An unopened pool that checks each connection before lending it, so a PostgreSQL restart costs no request.

    Open it with `await pool.open()` (or `async with`); connections are in autocommit mode.
    """

    async def autocommit(conn) -> None:  # type: ignore[no-untyped-def]
        await conn.set_autocommit(True)

    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=name,
        configure=autocommit,
        check=AsyncConnectionPool.check_connection,
        timeout=timeout,
    )
