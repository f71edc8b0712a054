"""Parsing a batch of files across processes.

Tree-sitter and the extraction around it hold the GIL, so threads parse one file at a time. A batch
is dealt round-robin to a pool of worker processes (spawned, not forked: the service runs threads and
an event loop) and the answers are put back in the order of the request.
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


class ParserPool:
    """`workers` processes parsing in parallel; with one worker, a thread of this process does the work."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._processes: Executor | None = (
            ProcessPoolExecutor(workers, mp_context=get_context("spawn")) if workers > 1 else None
        )

    async def parse(self, files: list[tuple[str, bytes]], max_file_bytes: int) -> list[ParsedFile]:
        loop = asyncio.get_running_loop()
        shares = min(self.workers, len(files) // MIN_FILES_PER_PROCESS)
        if self._processes is None or shares < 2:
            return await asyncio.to_thread(parse_files, files, max_file_bytes)
        answers = await asyncio.gather(
            *(
                loop.run_in_executor(self._processes, parse_files, files[start::shares], max_file_bytes)
                for start in range(shares)
            )
        )
        ordered: list[ParsedFile | None] = [None] * len(files)
        for start, share in enumerate(answers):
            ordered[start::shares] = share
        return [item for item in ordered if item is not None]

    def close(self) -> None:
        if self._processes is not None:
            self._processes.shutdown(cancel_futures=True)
