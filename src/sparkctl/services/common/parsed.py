"""What the preprocessor makes of a file: entities, relationships and chunks. They travel as JSON
between the preprocessor, the worker and the LightRAG service.

The records inside a file are plain dataclasses: a large repository makes hundreds of thousands of
them, and building each as a pydantic model cost more than parsing the code. `ParsedFile` validates
them when it is read back from JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel


@dataclass(slots=True)
class Chunk:
    id: str
    file: str
    start_line: int
    end_line: int
    content: str
    language: str
    heading: str | None = None


@dataclass(slots=True)
class Entity:
    name: str
    """Qualified name, unique in a repository: `httpx._client.Client.send`."""
    kind: str
    file: str
    start_line: int
    end_line: int
    signature: str = ""
    doc: str = ""
    chunk_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Reference:
    """A name as written in a file (a call, a base class, an import), resolved later across the repository."""

    source: str
    target: str
    kind: Literal["calls", "inherits", "imports"]
    line: int


@dataclass(slots=True)
class Relationship:
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
