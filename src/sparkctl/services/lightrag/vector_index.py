"""The HNSW indexes of LightRAG's vector tables, built after bulk writes instead of maintained insert by insert.

pgvector builds an HNSW index over a filled table several times faster than it inserts the same rows one by one
into an existing index (bench/ingest.py: 280 000 vectors built in about 20 s, against about 0.5 ms a row when
inserted). So with `vector_index = "hnsw"`:
- a bulk write (a worker's deferred insert) that brings a table more rows than `BULK_SHARE` of those it holds
  drops that table's index first (`before_bulk_insert`), and the writes go in unindexed;
- the end of the bulk write (`build_missing`, the worker's last commit of a job) builds every missing index,
  with `index_build_memory_mb` of maintenance memory so that the graph is built in memory;
- smaller writes (a changed file, a chat summary) go through the existing index.

Searches on a table without its index scan it whole: exact, and slower. The tables are LightRAG's, shared by
every workspace (a `workspace` column), and so are their indexes. The index names are LightRAG's own
(`idx_<table>_hnsw_cosine`), so that a LightRAG configured with POSTGRES_VECTOR_INDEX_TYPE=HNSW finds them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from lightrag import LightRAG
from lightrag.kg.postgres_impl import _safe_index_name

from sparkctl.services.lightrag.settings import LightragSettings

logger = logging.getLogger(__name__)

INDEX_SUFFIX = "hnsw_cosine"
BULK_SHARE = 0.05
"""An insert bringing more than this share of a table's rows drops its index until the bulk write ends."""
MIN_BULK_ROWS = 2000


def _vector_storages(rag: LightRAG) -> list[Any]:
    return [rag.entities_vdb, rag.relationships_vdb, rag.chunks_vdb]


class VectorIndexes:
    """The index of each vector table of one LightRAG instance (their tables are shared by every workspace)."""

    def __init__(self, settings: LightragSettings) -> None:
        self.enabled = settings.vector_index == "hnsw"
        self.m = settings.hnsw_m
        self.ef_construction = settings.hnsw_ef_construction
        self.memory_mb = settings.index_build_memory_mb
        self._lock = asyncio.Lock()

    async def before_bulk_insert(self, rag: LightRAG, rows: dict[str, int]) -> None:
        """Drop the index of each table this insert brings many rows to (`rows`: table name → new rows)."""
        if not self.enabled:
            return
        async with self._lock:
            for storage in _vector_storages(rag):
                table = storage.table_name
                coming = rows.get(table, 0)
                if coming < MIN_BULK_ROWS or not await self._exists(storage):
                    continue
                held = await self._rows(storage)
                if coming > BULK_SHARE * held:
                    await self._drop(storage)
                    logger.info("%s: index dropped for a bulk write of %d rows into %d", table, coming, held)

    async def build_missing(self, rag: LightRAG) -> list[str]:
        """Build the index of every vector table that has none; the tables indexed."""
        if not self.enabled:
            return []
        built = []
        async with self._lock:
            for storage in _vector_storages(rag):
                if await self._exists(storage):
                    continue
                began = time.monotonic()
                await self._build(storage)
                logger.info("%s: HNSW index built in %.1f s", storage.table_name, time.monotonic() - began)
                built.append(storage.table_name)
        return built

    @staticmethod
    def name(storage: Any) -> str:
        return _safe_index_name(storage.table_name, INDEX_SUFFIX)

    async def _exists(self, storage: Any) -> bool:
        async with storage.db.pool.acquire() as connection:
            found = await connection.fetchval(
                "SELECT 1 FROM pg_indexes WHERE indexname = $1 AND tablename = $2",
                self.name(storage),
                storage.table_name.lower(),
            )
        return bool(found)

    async def _rows(self, storage: Any) -> int:
        async with storage.db.pool.acquire() as connection:
            return int(await connection.fetchval(f"SELECT count(*) FROM {storage.table_name}"))

    async def _drop(self, storage: Any) -> None:
        async with storage.db.pool.acquire() as connection:
            await connection.execute(f"DROP INDEX IF EXISTS {self.name(storage)}")

    async def _build(self, storage: Any) -> None:
        async with storage.db.pool.acquire() as connection, connection.transaction():
            await connection.execute(f"SET LOCAL maintenance_work_mem = '{self.memory_mb}MB'")
            await connection.execute(
                f"CREATE INDEX IF NOT EXISTS {self.name(storage)} ON {storage.table_name} "
                f"USING hnsw (content_vector vector_cosine_ops) "
                f"WITH (m = {self.m}, ef_construction = {self.ef_construction})"
            )
            await connection.execute(f"ANALYZE {storage.table_name}")
