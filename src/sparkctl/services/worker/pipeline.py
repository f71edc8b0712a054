"""What the worker does with one ingest job: unpack, compare, parse, link, index, record.

Every step can be repeated safely, which is what makes a redelivered job finish without duplicates:
- a file recorded in the workspace's file index with the same sha256 is not indexed again;
- a file is recorded only after its chunks, entities and relationships are stored: LightRAG writes its graph
  once per `graph_commit_seconds` and at the end of a job (`commit_graph`), not once per insert, and files are
  recorded after that write;
- chunk ids are derived from path and content, so storing the same file twice overwrites, never adds.

Code is linked across the whole repository (a call resolves to a function in an unchanged file too),
so every file is parsed when one changed; only new and changed files are sent to LightRAG. When nothing
changed, nothing is parsed.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from sparkctl.errors import SparkctlError
from sparkctl.services.common import files as file_index
from sparkctl.services.common import jobs
from sparkctl.services.common.parsed import ParsedFile
from sparkctl.services.common.remote import LightragClient, PreprocessorClient, ServiceRefused
from sparkctl.services.preprocessor.parse import custom_kg, link
from sparkctl.services.worker.archive import ArchiveLimits, extract_archive
from sparkctl.services.worker.settings import WorkerSettings

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
        changed_paths = {path for path, _ in members if previous.get(path) != digests[path]}
        vanished = sorted(set(previous) - set(digests)) if job.kind == "codebase" else []
        progress.files_total = len(members) + len(progress.skipped)
        progress.files_unchanged = len(members) - len(changed_paths)
        await self._save(job, progress, status="indexing")
        if not changed_paths and not vanished:
            return

        parsed = await self._parse(members)
        members.clear()
        for item in parsed:
            if (item.skipped or item.error) and item.path in changed_paths:
                progress.skipped.append((item.path, item.skipped or f"error: {item.error}"))
        linked = link([item for item in parsed if not item.skipped and not item.error])
        to_index = [item for item in linked if item.path in changed_paths]
        replaced = sorted(path for path in changed_paths if path in previous)

        await self.lightrag.delete_files(job.workspace, [*replaced, *vanished], defer_graph_write=True)
        progress.files_deleted = len(vanished)

        pending = _Uncommitted(forgotten=vanished, since=time.monotonic())
        for batch in _batches(to_index, self.settings.insert_files):
            await self._store(job, batch, progress)
            retried = {path for path, reason in progress.skipped if reason.startswith(RETRIED_REASON)}
            pending.stored |= {item.path: digests[item.path] for item in batch if item.path not in retried}
            progress.files_done += len(batch)
            if time.monotonic() - pending.since >= self.settings.graph_commit_seconds:
                pending = await self._commit(job, pending)
            await self._save(job, progress)
        settled = {path for path, reason in progress.skipped if not reason.startswith(RETRIED_REASON)}
        pending.stored |= {path: digests[path] for path in settled & changed_paths}
        await self._commit(job, pending)
        await self._save(job, progress)

    async def _commit(self, job: jobs.Job, pending: _Uncommitted) -> _Uncommitted:
        """Have LightRAG write the graph changes it deferred, then record what they hold: a file is recorded as
        indexed (or forgotten) only once its graph is written."""
        await self.lightrag.commit_graph(job.workspace)
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

    async def _parse(self, members: Sequence[tuple[str, bytes]]) -> list[ParsedFile]:
        parsed: list[ParsedFile] = []
        for batch in _batches(list(members), self.settings.batch_files):
            answers = await self.preprocessor.parse_batch(batch)
            parsed.extend(ParsedFile.model_validate(answer) for answer in answers)
        return parsed

    async def _store(self, job: jobs.Job, batch: list[ParsedFile], progress: Progress) -> None:
        """Code as a ready-made graph (no LLM call); prose through LightRAG's extraction."""
        code = [item for item in batch if item.kind == "code"]
        prose = [item for item in batch if item.kind != "code"]
        if code:
            kg = custom_kg(code)
            if kg["chunks"] or kg["entities"]:
                await self.lightrag.insert_custom_kg(job.workspace, kg, defer_graph_write=True)
            progress.entities += len(kg["entities"])
            progress.relations += len(kg["relationships"])
            progress.chunks += len(kg["chunks"])
        for item in prose:
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


def _batches(items: list[_T], size: int) -> list[list[_T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
