"""The servers a request depends on: how to check them, and how a failure is put on the one that is down.

LightRAG reports storage failures as whatever its driver raised (asyncpg, OSError, neo4j) and swallows
some failures altogether (a failed document, a failed query become text). A route therefore asks
`attribute_failure`: a model-server error found in the exception chain wins, then a probe of
PostgreSQL (and Neo4j) decides whether the store is down; anything else is an internal error.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from sparkctl.errors import SparkctlError
from sparkctl.services.common.llm import LlmError
from sparkctl.services.lightrag.settings import LightragSettings

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 3.0


class BackendUnavailable(SparkctlError):
    """A server the service needs is down; the request can be retried once it is back."""

    code = "backend_unavailable"


class DatabaseUnavailable(BackendUnavailable):
    code = "postgres_unavailable"
    default_hint = "Start PostgreSQL or check SPARKCTL_DATABASE_URL; the service reconnects by itself."


class GraphStoreUnavailable(BackendUnavailable):
    code = "neo4j_unavailable"
    default_hint = "Start Neo4j or check SPARKCTL_NEO4J_URI; the service reconnects by itself."


class InternalError(SparkctlError):
    """A failure no backend explains."""


class InvalidPayload(SparkctlError):
    """LightRAG refused what the request asked (an empty name, a self-loop, a too-short query)."""


class WorkspaceBusy(SparkctlError):
    """LightRAG refused a change while its pipeline works on the workspace."""

    default_hint = "Retry once the workspace's pipeline is idle (GET /documents/pipeline_status)."


@dataclass(frozen=True)
class PostgresAddress:
    host: str
    port: int
    user: str
    password: str
    database: str
    sslmode: str | None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def parse_database_url(url: str) -> PostgresAddress:
    """The parts of a postgresql:// URL LightRAG wants as separate settings."""
    parts = urlsplit(url)
    query = dict(item.split("=", 1) for item in parts.query.split("&") if "=" in item)
    return PostgresAddress(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        database=unquote(parts.path.lstrip("/")) or "postgres",
        sslmode=query.get("sslmode"),
    )


async def probe_postgres(settings: LightragSettings) -> None:
    """Raise DatabaseUnavailable unless PostgreSQL accepts a connection and answers a query."""
    import asyncpg

    address = parse_database_url(settings.database_url)
    try:
        connection = await asyncpg.connect(settings.database_url, timeout=PROBE_TIMEOUT)
        try:
            await asyncio.wait_for(connection.fetchval("SELECT 1"), PROBE_TIMEOUT)
        finally:
            await connection.close(timeout=PROBE_TIMEOUT)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailable(f"PostgreSQL at {address.where} is unreachable ({type(exc).__name__})") from exc


async def probe_neo4j(settings: LightragSettings) -> None:
    """Raise GraphStoreUnavailable unless Neo4j accepts the configured credentials."""
    from neo4j import AsyncGraphDatabase
    from neo4j.exceptions import Neo4jError, ServiceUnavailable

    password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
    driver = AsyncGraphDatabase.driver(
        settings.neo4j_uri, auth=(settings.neo4j_user, password), connection_timeout=PROBE_TIMEOUT
    )
    try:
        await asyncio.wait_for(driver.verify_connectivity(), PROBE_TIMEOUT * 2)
    except (ServiceUnavailable, Neo4jError, OSError, TimeoutError) as exc:
        raise GraphStoreUnavailable(f"Neo4j at {settings.neo4j_uri} is unreachable ({type(exc).__name__})") from exc
    finally:
        await driver.close()


async def probe_stores(settings: LightragSettings) -> None:
    """Raise the BackendUnavailable of the first store that is down."""
    await probe_postgres(settings)
    if settings.graph_storage == "neo4j":
        await probe_neo4j(settings)


def llm_error_in(exc: BaseException) -> LlmError | None:
    """The model-server error at the root of `exc`, if any.

    LightRAG re-raises model errors as new exceptions of the same type with a prefixed message, keeping
    the original as the cause; the deepest one carries the clean message.
    """
    found: LlmError | None = None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, LlmError):
            found = current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return found


async def attribute_failure(exc: BaseException, settings: LightragSettings) -> SparkctlError:
    """The error to answer with for a failure LightRAG raised or reported."""
    if isinstance(exc, SparkctlError):
        return exc
    from lightrag.exceptions import (
        PipelineBackpressureError,
        PipelineRecoveryRequiredError,
        PipelineReservationConflictError,
    )

    llm_error = llm_error_in(exc)
    if llm_error is not None:
        return llm_error
    if isinstance(exc, PipelineReservationConflictError | PipelineBackpressureError):
        return WorkspaceBusy(f"the workspace's pipeline refused the change: {exc}")
    if isinstance(exc, PipelineRecoveryRequiredError):
        return InternalError(f"the workspace needs recovery: {exc}", hint="See GET /documents/pipeline_status.")
    if isinstance(exc, ValueError):
        return InvalidPayload(str(exc), hint="Fix the request.")
    try:
        await probe_stores(settings)
    except BackendUnavailable as unavailable:
        return unavailable
    logger.error("request failed: %s", exc, exc_info=exc)
    return InternalError(f"LightRAG failed: {type(exc).__name__}: {exc}", hint="See the service log.")
