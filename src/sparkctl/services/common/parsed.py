"""What the preprocessor makes of a file: entities, relationships and chunks. They travel as JSON
between the preprocessor, the worker and the LightRAG service."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Chunk(BaseModel):
    id: str
    file: str
    start_line: int
    end_line: int
    content: str
    language: str
    heading: str | None = None


class Entity(BaseModel):
    name: str
    """Qualified name, unique in a repository: `httpx._client.Client.send`."""
    kind: str
    file: str
    start_line: int
    end_line: int
    signature: str = ""
    doc: str = ""
    chunk_ids: list[str] = []


class Reference(BaseModel):
    """A name as written in a file (a call, a base class, an import), resolved later across the repository."""

    source: str
    target: str
    kind: Literal["calls", "inherits", "imports"]
    line: int


class Relationship(BaseModel):
    source: str
    target: str
    kind: Literal["contains", "calls", "inherits", "imports"]
    file: str
    line: int
    external: bool = False


class ParsedFile(BaseModel):
    path: str
    language: str | None = None
    kind: Literal["code", "document"] = "code"
    sha256: str = ""
    entities: list[Entity] = []
    relationships: list[Relationship] = []
    references: list[Reference] = []
    imports: dict[str, str] = {}
    """Local name → imported qualified name, as written (`np` → `numpy`)."""
    chunks: list[Chunk] = []
    skipped: str | None = None
    error: str | None = None
