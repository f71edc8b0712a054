"""The PostgreSQL connection pool every service uses."""

from __future__ import annotations

import select
import time
import weakref

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

CHECK_AFTER_IDLE = 30.0
"""Seconds a pooled connection may rest before a loan checks it with a round trip."""


class _LoanCheck:
    """Check a connection before lending it, with a round trip only when it may be dead.

    A server that shuts down or restarts tells each client (a FATAL message, then EOF), so a connection
    with input waiting on its socket is checked; so is one that rested a long time (a dropped network).
    Anything else was fine moments ago: lending it without a round trip saves one per query under load,
    and a PostgreSQL restart still costs no request.
    """

    def __init__(self) -> None:
        self._returned: weakref.WeakKeyDictionary[AsyncConnection, float] = weakref.WeakKeyDictionary()

    async def check(self, conn: AsyncConnection) -> None:
        returned = self._returned.get(conn)
        rested = returned is None or time.monotonic() - returned > CHECK_AFTER_IDLE
        if rested or _input_waiting(conn):
            await AsyncConnectionPool.check_connection(conn)

    async def reset(self, conn: AsyncConnection) -> None:
        self._returned[conn] = time.monotonic()


def _input_waiting(conn: AsyncConnection) -> bool:
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def create_pool(
    url: str, *, min_size: int = 1, max_size: int = 8, name: str = "sparkctl", timeout: float = 30.0
) -> AsyncConnectionPool:
    """An unopened pool that checks a connection before a loan when it may be dead, so a PostgreSQL restart
    costs no request.

    Open it with `await pool.open()` (or `async with`); connections are in autocommit mode.
    """

    async def autocommit(conn) -> None:  # type: ignore[no-untyped-def]
        await conn.set_autocommit(True)

    idle = _LoanCheck()
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=name,
        configure=autocommit,
        check=idle.check,
        reset=idle.reset,
        timeout=timeout,
    )
