"""Parsing a batch of files across processes.

Tree-sitter and the extraction around it hold the GIL, so threads parse one file at a time. A batch
is dealt round-robin to a pool of worker processes (spawned, not forked: the service runs threads and
an event loop) and the answers are put back in the order of the request.

The processes answer with each file's JSON, not with Python objects: pickling hundreds of thousands of
small records back costs as much as parsing them, while JSON is what /parse/batch sends on anyway.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor, ProcessPoolExecutor
from multiprocessing import get_context

from sparkctl.services.common.parsed import ParsedFile
from sparkctl.services.preprocessor.parse import parse_file

MIN_FILES_PER_PROCESS = 8
"""Below this many files per process, sending them over costs more than it saves."""


def parse_files(files: list[tuple[str, bytes]], max_file_bytes: int) -> list[ParsedFile]:
    return [parse_file(path, data, max_file_bytes=max_file_bytes) for path, data in files]


def parse_files_json(files: list[tuple[str, bytes]], max_file_bytes: int) -> list[bytes]:
    """Each file's ParsedFile as JSON."""
    return [parsed.model_dump_json().encode() for parsed in parse_files(files, max_file_bytes)]


class ParserPool:
    """`workers` processes parsing in parallel; with one worker, a thread of this process does the work."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._processes: Executor | None = (
            ProcessPoolExecutor(workers, mp_context=get_context("spawn")) if workers > 1 else None
        )

    async def parse_json(self, files: list[tuple[str, bytes]], max_file_bytes: int) -> list[bytes]:
        """Each file's ParsedFile as JSON, in the order of `files`."""
        loop = asyncio.get_running_loop()
        shares = min(self.workers, len(files) // MIN_FILES_PER_PROCESS)
        if self._processes is None or shares < 2:
            return await asyncio.to_thread(parse_files_json, files, max_file_bytes)
        answers = await asyncio.gather(
            *(
                loop.run_in_executor(self._processes, parse_files_json, files[start::shares], max_file_bytes)
                for start in range(shares)
            )
        )
        ordered: list[bytes] = [b""] * len(files)
        for start, share in enumerate(answers):
            ordered[start::shares] = share
        return ordered

    async def parse(self, files: list[tuple[str, bytes]], max_file_bytes: int) -> list[ParsedFile]:
        shares = min(self.workers, len(files) // MIN_FILES_PER_PROCESS)
        if self._processes is None or shares < 2:
            return await asyncio.to_thread(parse_files, files, max_file_bytes)
        return [ParsedFile.model_validate_json(answer) for answer in await self.parse_json(files, max_file_bytes)]

    def close(self) -> None:
        if self._processes is not None:
            self._processes.shutdown(cancel_futures=True)
