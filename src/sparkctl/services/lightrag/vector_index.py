"""The vector indexes of LightRAG's tables, built after bulk writes instead of maintained insert by insert.

`vector_index` picks pgvector's index method:
- `ivfflat` (the default): vectors are grouped around `rows / 1000` centres (k-means over the table) and a search
  reads the `ivfflat_probes` groups nearest to the query. Over the 280 000 entity vectors of 10 000 files with the
  hash embedder the build takes 3 s (bench/vector_index.py; figures in docs/architecture.md);
- `hnsw`: a neighbour graph (`hnsw_m`, `hnsw_ef_construction`, searched with `hnsw_ef_search`): about 40 s to
  build over the same table, and more of the exact nearest vectors found for the same search time;
- `exact`: no index, every search scans the workspace's vectors.

With an index method:
- a bulk write (a worker's deferred insert) that brings a table more rows than `BULK_SHARE` of those it holds
  drops that table's index first (`before_bulk_insert`), and the writes go in unindexed;
- the end of the bulk write (`build_missing`, the worker's last commit of a job) builds every missing index,
  sized for the rows the table then holds, with `index_build_memory_mb` of maintenance memory, and rebuilds an
  IVFFlat index whose table has grown `REGROW_FACTOR` times past what its lists were sized for;
- smaller writes (a changed file, a chat summary) go through the existing index.

Searches on a table without its index scan it whole: exact, and slower. The tables are LightRAG's, shared by
every workspace (a `workspace` column), and so are their indexes. The index names are LightRAG's own
(`idx_<table>_hnsw_cosine`, `idx_<table>_ivfflat_cosine`), so that a LightRAG configured with
POSTGRES_VECTOR_INDEX_TYPE finds them; building one drops the other method's.
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

METHODS = ("ivfflat", "hnsw")
BULK_SHARE = 0.05
"""An insert bringing more than this share of a table's rows drops its index until the bulk write ends."""
MIN_BULK_ROWS = 2000
ROWS_PER_LIST = 1000
"""pgvector's advice for IVFFlat up to a million rows: a list per thousand rows."""
REGROW_FACTOR = 4
"""An IVFFlat index is rebuilt at the end of a bulk write once its table holds this many times the rows its lists
were sized for (small writes go into the existing lists and make each longer)."""


def _vector_storages(rag: LightRAG) -> list[Any]:
    return [rag.entities_vdb, rag.relationships_vdb, rag.chunks_vdb]


def ivfflat_lists(rows: int) -> int:
    """The number of IVFFlat lists for a table of `rows` vectors."""
    return max(1, rows // ROWS_PER_LIST)


def outgrown(rows: int, lists: int) -> bool:
    """Whether an IVFFlat index of `lists` lists is too small for a table of `rows` vectors."""
    return rows >= REGROW_FACTOR * max(1, lists) * ROWS_PER_LIST


def index_name(table: str, method: str) -> str:
    return _safe_index_name(table, f"{method}_cosine")


class VectorIndexes:
    """The index of each vector table of one LightRAG instance (their tables are shared by every workspace)."""

    def __init__(self, settings: LightragSettings) -> None:
        self.method = settings.vector_index if settings.vector_index in METHODS else None
        self.m = settings.hnsw_m
        self.ef_construction = settings.hnsw_ef_construction
        self.memory_mb = settings.index_build_memory_mb
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self.method is not None

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
        """Build the index of every vector table that has none, or an IVFFlat one its table has outgrown; the
        tables indexed."""
        if not self.enabled:
            return []
        built = []
        async with self._lock:
            for storage in _vector_storages(rag):
                if await self._exists(storage):
                    if not await self._outgrown(storage):
                        continue
                    await self._drop(storage)
                began = time.monotonic()
                await self._build(storage)
                logger.info("%s: %s index built in %.1f s", storage.table_name, self.method, time.monotonic() - began)
                built.append(storage.table_name)
        return built

    def name(self, storage: Any) -> str:
        assert self.method is not None
        return index_name(storage.table_name, self.method)

    async def _exists(self, storage: Any) -> bool:
        async with storage.db.pool.acquire() as connection:
            found = await connection.fetchval(
                "SELECT 1 FROM pg_indexes WHERE indexname = $1 AND tablename = $2",
                self.name(storage),
                storage.table_name.lower(),
            )
        return bool(found)

    async def _outgrown(self, storage: Any) -> bool:
        if self.method != "ivfflat":
            return False
        async with storage.db.pool.acquire() as connection:
            options = await connection.fetchval(
                "SELECT reloptions FROM pg_class WHERE relname = $1", self.name(storage).lower()
            )
        lists = next((int(option.split("=", 1)[1]) for option in options or [] if option.startswith("lists=")), 1)
        return outgrown(await self._rows(storage), lists)

    async def _rows(self, storage: Any) -> int:
        async with storage.db.pool.acquire() as connection:
            return int(await connection.fetchval(f"SELECT count(*) FROM {storage.table_name}"))

    async def _drop(self, storage: Any) -> None:
        async with storage.db.pool.acquire() as connection:
            await connection.execute(f"DROP INDEX IF EXISTS {self.name(storage)}")

    async def _build(self, storage: Any) -> None:
        table = storage.table_name
        if self.method == "hnsw":
            options = f"m = {self.m}, ef_construction = {self.ef_construction}"
        else:
            options = f"lists = {ivfflat_lists(await self._rows(storage))}"
        async with storage.db.pool.acquire() as connection, connection.transaction():
            await connection.execute(f"SET LOCAL maintenance_work_mem = '{self.memory_mb}MB'")
            for other in METHODS:
                if other != self.method:
                    await connection.execute(f"DROP INDEX IF EXISTS {index_name(table, other)}")
            await connection.execute(
                f"CREATE INDEX IF NOT EXISTS {self.name(storage)} ON {table} "
                f"USING {self.method} (content_vector vector_cosine_ops) WITH ({options})"
            )
            await connection.execute(f"ANALYZE {table}")
