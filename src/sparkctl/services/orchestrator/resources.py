"""The orchestrator's connections, made once per app in its lifespan and reached through dependencies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from fastapi import Request
from psycopg_pool import AsyncConnectionPool

from sparkctl.services.common import messaging
from sparkctl.services.orchestrator.errors import ApiError

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient
    from nats.js import JetStreamContext
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


class NatsLink:
    """A NATS connection made on first use and remade after a failure, so the service starts and
    recovers whether or not NATS is up."""

    def __init__(self, url: str, connect_timeout: float = 2.0) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self._client: NatsClient | None = None
        self._lock = asyncio.Lock()

    async def jetstream(self) -> JetStreamContext:
        import nats

        async with self._lock:
            if self._client is None or self._client.is_closed:
                try:
                    self._client = await nats.connect(
                        self.url,
                        connect_timeout=self.connect_timeout,
                        max_reconnect_attempts=3,
                        reconnect_time_wait=0.5,
                        allow_reconnect=True,
                    )
                    await messaging.ensure_stream(self._client.jetstream())
                except Exception as exc:
                    await self.close()
                    raise ApiError(503, f"NATS at {where(self.url)} is unreachable ({type(exc).__name__})") from exc
            return self._client.jetstream()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()


@dataclass
class Resources:
    pool: AsyncConnectionPool
    redis: Redis
    nats: NatsLink
    http: httpx.AsyncClient


def resources(request: Request) -> Resources:
    return request.app.state.resources  # type: ignore[no-any-return]


def where(url: str) -> str:
    """host:port of a server URL, without its credentials: what an error message may show."""
    netloc = url.split("://", 1)[-1].split("/", 1)[0]
    return netloc.rsplit("@", 1)[-1]
