"""What the worker does with one ingest job: unpack, compare, parse, link, index, record.

Every step can be repeated safely, which is what makes a redelivered job finish without duplicates:
- a file recorded in the workspace's file index with the same sha256 is not indexed again;
- a file is recorded only after its chunks, entities and relationships are stored: LightRAG writes its graph
  once per `graph_commit_seconds` and at the end of a job (`commit_graph`), not once per insert, and files are
  recorded after that write;
- chunk ids are derived from path and content, so storing the same file twice overwrites, never adds.

Code is linked across the whole repository (a call resolves to a function in an unchanged file too): the
entity names of unchanged files come from the worker's record of them (symbols.py), so only new and changed files
are parsed (and files whose names were never recorded), and only new and changed files are sent to LightRAG. When
nothing changed, nothing is parsed. Parsed files wait in a temporary file (spill.py) between parsing and linking:
the worker holds the repository's entity names and one batch, not the parsed repository.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import itertools
import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from sparkctl.errors import SparkctlError
from sparkctl.services.common import files as file_index
from sparkctl.services.common import jobs
from sparkctl.services.common.parsed import ParsedFile
from sparkctl.services.common.remote import LightragClient, PreprocessorClient, ServiceRefused
from sparkctl.services.preprocessor.linking import SymbolIndex, link_file
from sparkctl.services.preprocessor.parse import custom_kg
from sparkctl.services.worker.archive import ArchiveLimits, extract_archive
from sparkctl.services.worker.settings import WorkerSettings
from sparkctl.services.worker.spill import ParsedNames, ParsedSpill
from sparkctl.services.worker.symbols import SymbolRecords

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_SKIPPED_NAMED = jobs.MAX_SKIPPED_FILES_KEPT
SPOOL_BYTES = 8 * 1024 * 1024
"""An upload is read from PostgreSQL into memory up to this size, into a temporary file beyond it."""


RETRIED_REASON = "extraction failed"
"""Files skipped for this reason are not recorded as indexed: the next ingest tries them again."""


@dataclass
class _Uncommitted:
    """What was sent to LightRAG since its graph was last written: files to record and files to forget."""

    since: float
    stored: dict[str, str] = field(default_factory=dict)
    forgotten: list[str] = field(default_factory=list)


@dataclass
class Progress:
    """The counters of one attempt, written to the job row as they change."""

    files_total: int = 0
    files_done: int = 0
    files_unchanged: int = 0
    files_deleted: int = 0
    entities: int = 0
    relations: int = 0
    chunks: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def counters(self) -> dict[str, int]:
        return {
            "files_total": self.files_total,
            "files_done": self.files_done,
            "files_unchanged": self.files_unchanged,
            "files_deleted": self.files_deleted,
            "files_skipped": len(self.skipped),
            "entities": self.entities,
            "relations": self.relations,
            "chunks": self.chunks,
        }


class IngestPipeline:
    """Runs ingest jobs: the callable the consumer hands each delivered job to."""

    def __init__(
        self,
        settings: WorkerSettings,
        pool: AsyncConnectionPool,
        preprocessor: PreprocessorClient,
        lightrag: LightragClient,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.preprocessor = preprocessor
        self.lightrag = lightrag
        self.symbols = SymbolRecords()

    @property
    def limits(self) -> ArchiveLimits:
        return ArchiveLimits(
            max_files=self.settings.max_files,
            max_file_bytes=self.settings.max_file_bytes,
            max_total_bytes=self.settings.max_total_bytes,
        )

    async def __call__(self, job: jobs.Job) -> None:
        progress = Progress()
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as upload:
            async with self.pool.connection() as conn:
                document = await jobs.load_document(conn, job.document_id, upload)
            if document is None:
                raise SparkctlError(f"the upload of job {job.id} is gone")
            upload.seek(0)
            if job.kind == "codebase":
                extracted = extract_archive(upload, limits=self.limits)
                members = extracted.files
                progress.skipped.extend(extracted.skipped)
            else:
                members = [(document.name, upload.read())]
        await self._index(job, members, progress)

    async def _index(self, job: jobs.Job, members: list[tuple[str, bytes]], progress: Progress) -> None:
        """Index the members; their contents are let go (the list emptied) once parsed."""
        await self._check_embedder(job.workspace)
        digests = {path: hashlib.sha256(data).hexdigest() for path, data in members}
        async with self.pool.connection() as conn:
            previous = await file_index.indexed_files(conn, job.workspace, job.source)
            known = await self.symbols.known(conn, job.workspace, job.source, digests)
        changed_paths = {path for path, _ in members if previous.get(path) != digests[path]}
        vanished = sorted(set(previous) - set(digests)) if job.kind == "codebase" else []
        progress.files_total = len(members) + len(progress.skipped)
        progress.files_unchanged = len(members) - len(changed_paths)
        await self._save(job, progress, status="indexing")
        if not changed_paths and not vanished:
            return

        to_parse = [(path, data) for path, data in members if path in changed_paths or path not in known]
        members.clear()
        with ParsedSpill() as spill:
            names = await self._parse(job, to_parse, spill, known, digests)
            for item in names:
                if not item.usable and item.path in changed_paths:
                    progress.skipped.append((item.path, item.skipped or f"error: {item.error}"))
            index = SymbolIndex.of_names(
                itertools.chain(
                    (name for path, kept in known.items() if path not in changed_paths for name in kept),
                    (entity.name for item in names if item.usable for entity in item.entities),
                )
            )
            replaced = sorted(path for path in changed_paths if path in previous)
            await self.lightrag.delete_files(job.workspace, [*replaced, *vanished], defer_graph_write=True)
            progress.files_deleted = len(vanished)
            async with self.pool.connection() as conn:
                await self.symbols.forget(conn, job.workspace, job.source, vanished)

            pending = _Uncommitted(forgotten=vanished, since=time.monotonic())
            usable = (item for item in spill.files() if item.path in changed_paths and not (item.skipped or item.error))
            batches = _insert_batches((link_file(item, index) for item in usable), self.settings)
            pending = await self._store_all(job, batches, digests, progress, pending)
        settled = {path for path, reason in progress.skipped if not reason.startswith(RETRIED_REASON)}
        pending.stored |= {path: digests[path] for path in settled & changed_paths}
        await self._commit(job, pending, last=True)
        await self._save(job, progress)

    async def _parse(
        self,
        job: jobs.Job,
        files: list[tuple[str, bytes]],
        spill: ParsedSpill,
        known: dict[str, list[str]],
        digests: dict[str, str],
    ) -> list[ParsedNames]:
        """Parse the files into `spill`, `parse_ahead` batches at a time, and record their entity names; what
        linking needs of each, in order."""
        batches = _batches(files, self.settings.batch_files)
        files.clear()
        names: list[ParsedNames] = []
        waiting: collections.deque[asyncio.Task[bytes]] = collections.deque()
        try:
            for batch in batches:
                waiting.append(asyncio.create_task(self.preprocessor.parse_batch(batch)))
                if len(waiting) >= self.settings.parse_ahead:
                    names += spill.add(await waiting.popleft())
            while waiting:
                names += spill.add(await waiting.popleft())
        finally:
            for task in waiting:
                task.cancel()
        fresh = [(item.path, digests[item.path], [e.name for e in item.entities if item.usable]) for item in names]
        known.update((path, kept) for path, _, kept in fresh)
        async with self.pool.connection() as conn:
            await self.symbols.remember(conn, job.workspace, job.source, fresh)
        return names

    async def _store_all(
        self,
        job: jobs.Job,
        batches: Iterator[list[ParsedFile]],
        digests: dict[str, str],
        progress: Progress,
        pending: _Uncommitted,
    ) -> _Uncommitted:
        """Store the batches, `insert_ahead` at once (LightRAG works on one while it waits for PostgreSQL or its
        embedder on another), each prepared in a thread while the others are stored; the graph committed every
        `graph_commit_seconds`, once nothing is in flight."""
        in_flight: set[asyncio.Task[_Prepared]] = set()

        async def store(prepared: _Prepared) -> _Prepared:
            await self._store(job, prepared, progress)
            return prepared

        def settle(done: set[asyncio.Task[_Prepared]]) -> None:
            for task in done:
                batch = task.result().files
                retried = {path for path, reason in progress.skipped if reason.startswith(RETRIED_REASON)}
                pending.stored |= {item.path: digests[item.path] for item in batch if item.path not in retried}
                progress.files_done += len(batch)

        try:
            while (prepared := await asyncio.to_thread(_Prepared.next, batches)) is not None:
                in_flight.add(asyncio.create_task(store(prepared)))
                if len(in_flight) < self.settings.insert_ahead:
                    continue
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                settle(done)
                if time.monotonic() - pending.since >= self.settings.graph_commit_seconds:
                    if in_flight:
                        done, in_flight = await asyncio.wait(in_flight)
                        settle(done)
                    pending = await self._commit(job, pending)
                await self._save(job, progress)
            if in_flight:
                done, in_flight = await asyncio.wait(in_flight)
                settle(done)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
        return pending

    async def _commit(self, job: jobs.Job, pending: _Uncommitted, *, last: bool = False) -> _Uncommitted:
        """Have LightRAG write the graph changes it deferred, then record what they hold: a file is recorded as
        indexed (or forgotten) only once its graph is written. The last commit of a job also has the vector
        indexes its inserts dropped built again."""
        await self.lightrag.commit_graph(job.workspace, build_indexes=last)
        async with self.pool.connection() as conn:
            await file_index.forget_files(conn, job.workspace, job.source, pending.forgotten)
            await file_index.record_files(conn, job.workspace, job.source, pending.stored, job.id)
        return _Uncommitted(since=time.monotonic())

    async def _check_embedder(self, workspace: str) -> None:
        """Fail at once when another embedder indexed the workspace: unchanged files would never reach LightRAG
        to be refused, and the job would complete with an index no search can find."""
        try:
            await self.lightrag.check_embedder(workspace)
        except ServiceRefused as refused:
            if refused.code != "embedder_changed":
                raise
            raise SparkctlError(
                f"{refused.message}; run `sparkctl ingest --reindex` to index the workspace anew with this embedder"
            ) from None

    async def _store(self, job: jobs.Job, prepared: _Prepared, progress: Progress) -> None:
        """Code as a ready-made graph (no LLM call); prose through LightRAG's extraction."""
        if prepared.code is not None:
            await self.lightrag.insert_custom_kg_json(job.workspace, prepared.code)
        progress.entities += prepared.entities
        progress.relations += prepared.relations
        progress.chunks += prepared.chunks
        for item in prepared.files:
            if item.kind == "code":
                continue
            text = "\n\n".join(chunk.content for chunk in item.chunks).strip()
            if not text:
                continue
            try:
                await self.lightrag.insert_text(job.workspace, text, item.path)
            except ServiceRefused as refused:
                if refused.code != "model_refused":
                    raise
                progress.skipped.append((item.path, f"{RETRIED_REASON}: {refused.message}"))
                continue
            progress.chunks += len(item.chunks)

    async def _save(self, job: jobs.Job, progress: Progress, status: jobs.JobStatus | None = None) -> None:
        reasons = Counter(reason.split(":", 1)[0] for _, reason in progress.skipped)
        async with self.pool.connection() as conn:
            await jobs.update_progress(
                conn,
                job.id,
                status=status,
                skipped=dict(reasons),
                skipped_files=progress.skipped[:MAX_SKIPPED_NAMED],
                **progress.counters(),
            )


@dataclass
class _Prepared:
    """One insert made ready in a thread while the previous one is stored: the batch's files, and its code as
    the custom-KG request's JSON (None when it holds no code) with what that holds."""

    files: list[ParsedFile]
    code: bytes | None
    entities: int = 0
    relations: int = 0
    chunks: int = 0

    @classmethod
    def next(cls, batches: Iterator[list[ParsedFile]]) -> _Prepared | None:
        batch = next(batches, None)
        if batch is None:
            return None
        code = [item for item in batch if item.kind == "code"]
        if not code:
            return cls(batch, None)
        kg = custom_kg(code)
        counts = {"entities": len(kg["entities"]), "relations": len(kg["relationships"]), "chunks": len(kg["chunks"])}
        if not kg["chunks"] and not kg["entities"]:
            return cls(batch, None, **counts)
        return cls(batch, json.dumps(kg | {"defer_graph_write": True}).encode(), **counts)


def _batches(items: list[_T], size: int) -> list[list[_T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _insert_batches(files: Iterable[ParsedFile], settings: WorkerSettings) -> Iterator[list[ParsedFile]]:
    """Linked files in batches of `insert_files` files, or fewer when they hold more than `insert_records`
    chunks, entities and relationships (a generated file can hold thousands)."""
    batch: list[ParsedFile] = []
    records = 0
    for item in files:
        size = len(item.chunks) + len(item.entities) + len(item.relationships)
        if batch and (len(batch) >= settings.insert_files or records + size > settings.insert_records):
            yield batch
            batch, records = [], 0
        batch.append(item)
        records += size
    if batch:
        yield batch
