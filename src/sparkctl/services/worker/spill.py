"""Parsed files kept on disk while a job runs, so that the worker's memory holds the repository's entity names and
one batch, not every file's entities, references and chunks (a 10 000-file repository parses into 550 MB of
JSON, several GB as Python objects).

Each answer of the preprocessor's /parse/batch is written as it came; `names` reads what linking needs from it at
once, `files` reads the whole files back, one answer at a time, in the order they were added.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel

from sparkctl.services.common.parsed import ParsedFile


class _Named(BaseModel):
    name: str


class ParsedNames(BaseModel):
    """What the first pass reads of a parsed file (the rest of the JSON is skipped, not built)."""

    path: str
    kind: Literal["code", "document"] = "code"
    sha256: str = ""
    entities: list[_Named] = []
    skipped: str | None = None
    error: str | None = None

    @property
    def usable(self) -> bool:
        return not self.skipped and not self.error


class _NamesAnswer(BaseModel):
    files: list[ParsedNames]


class _Answer(BaseModel):
    files: list[ParsedFile]


class ParsedSpill:
    """A temporary file of /parse/batch answers."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="sparkctl-parsed-")  # noqa: SIM115 (closed by close())
        self._spans: list[tuple[int, int]] = []

    def add(self, answer: bytes) -> list[ParsedNames]:
        """Keep one answer; what linking needs of its files."""
        start = self._file.seek(0, 2)
        self._file.write(answer)
        self._spans.append((start, len(answer)))
        return _NamesAnswer.model_validate_json(answer).files

    def files(self) -> Iterator[ParsedFile]:
        """Every file of every answer, in order."""
        for start, size in self._spans:
            self._file.seek(start)
            yield from _Answer.model_validate_json(self._file.read(size)).files

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ParsedSpill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
