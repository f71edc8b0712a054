"""The preprocessor's entry points: a file in, its entities, relationships and chunks out; a repository
linked; linked files turned into LightRAG's custom knowledge graph."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from typing import Any

from sparkctl.codebase import MAX_FILE_BYTES, text_skip_reason
from sparkctl.services.common.parsed import Chunk, Entity, ParsedFile
from sparkctl.services.preprocessor.chunking import DEFAULT_BUDGET, code_chunks
from sparkctl.services.preprocessor.code import extract_code
from sparkctl.services.preprocessor.documents import UnreadableDocument, document_chunks
from sparkctl.services.preprocessor.languages import document_kind_of, language_of, parse_tree
from sparkctl.services.preprocessor.linking import link

__all__ = ["custom_kg", "link", "parse_file"]

MAX_CHUNKS_PER_ENTITY = 8


def parse_file(
    path: str, data: bytes, *, max_file_bytes: int = MAX_FILE_BYTES, budget: int = DEFAULT_BUDGET
) -> ParsedFile:
    """Never raises for bad content: a file that cannot be used is `skipped` or has an `error`, with the reason."""
    digest = hashlib.sha256(data).hexdigest()
    language = language_of(path)
    document = None if language else document_kind_of(path)
    if language is None and document is None:
        return ParsedFile(path=path, sha256=digest, skipped="unsupported-language")
    if document == "pdf":
        if len(data) > max_file_bytes:
            return ParsedFile(path=path, sha256=digest, kind="document", language="pdf", skipped="too-large")
        try:
            chunks = document_chunks(path, "pdf", data, budget=budget)
        except UnreadableDocument as exc:
            return ParsedFile(path=path, sha256=digest, kind="document", language="pdf", error=str(exc))
        return ParsedFile(path=path, sha256=digest, kind="document", language="pdf", chunks=chunks)
    reason = text_skip_reason(data, max_bytes=max_file_bytes)
    if reason:
        return ParsedFile(
            path=path,
            sha256=digest,
            language=language or document,
            kind="code" if language else "document",
            skipped=reason,
        )
    if document is not None:
        return ParsedFile(
            path=path,
            sha256=digest,
            kind="document",
            language=document,
            chunks=document_chunks(path, document, data, budget=budget),
        )
    assert language is not None
    facts = extract_code(path, language, data, parse_tree(language, data))
    lines = data.decode("utf-8", errors="replace").splitlines(keepends=True) or [""]
    chunks = code_chunks(path, language, lines, facts.spans, budget=budget)
    _attach_chunks(facts.entities, chunks)
    return ParsedFile(
        path=path,
        sha256=digest,
        language=language,
        kind="code",
        entities=facts.entities,
        relationships=facts.relationships,
        references=facts.references,
        imports=facts.imports,
        chunks=chunks,
    )


def _attach_chunks(entities: list[Entity], chunks: list[Chunk]) -> None:
    """Each entity cites the chunk holding its first line, and the chunks inside it (a split class).

    Chunks come in line order without overlaps, so both are found by bisection.
    """
    starts = [chunk.start_line for chunk in chunks]
    for entity in entities:
        index = bisect.bisect_right(starts, entity.start_line) - 1
        ids = [chunks[index].id] if index >= 0 and chunks[index].end_line >= entity.start_line else []
        index += 1
        while index < len(chunks) and chunks[index].end_line <= entity.end_line and len(ids) < MAX_CHUNKS_PER_ENTITY:
            ids.append(chunks[index].id)
            index += 1
        entity.chunk_ids = ids


def custom_kg(files: Iterable[ParsedFile]) -> dict[str, list[dict[str, Any]]]:
    """LightRAG's custom knowledge graph (the keys `ainsert_custom_kg` reads) for linked code files.

    Code relationships (contains, calls, imports, inherits) are structural facts their two entities' qualified
    names state whole: they go into the graph without a vector (`indexed: false`), and search reaches them through
    their entities (LightRAG's local mode), not through a relationship index of strings that repeat those names."""
    chunks: list[dict[str, Any]] = []
    entities: list[dict[str, Any]] = []
    relationships: list[dict[str, Any]] = []
    first_chunk: dict[str, str] = {}
    for parsed in files:
        for order, chunk in enumerate(parsed.chunks):
            header = f"# {chunk.file}:{chunk.start_line}-{chunk.end_line}\n"
            chunks.append(
                {
                    "content": header + chunk.content,
                    "source_id": chunk.id,
                    "file_path": chunk.file,
                    "chunk_order_index": order,
                }
            )
        for entity in parsed.entities:
            if not entity.chunk_ids:
                continue
            first_chunk[entity.name] = entity.chunk_ids[0]
            entities.append(
                {
                    "entity_name": entity.name,
                    "entity_type": entity.kind,
                    "description": _describe(entity),
                    "source_id": entity.chunk_ids[0],
                    "file_path": entity.file,
                }
            )
        for relation in parsed.relationships:
            if relation.external or relation.source not in first_chunk:
                continue
            relationships.append(
                {
                    "src_id": relation.source,
                    "tgt_id": relation.target,
                    "keywords": relation.kind,
                    "weight": 1.0,
                    "description": f"{relation.source} {relation.kind} {relation.target} "
                    f"({relation.file}:{relation.line})",
                    "source_id": first_chunk[relation.source],
                    "file_path": relation.file,
                    "indexed": False,
                }
            )
    return {"chunks": chunks, "entities": entities, "relationships": relationships}


def _describe(entity: Entity) -> str:
    parts = [f"{entity.kind} {entity.name} in {entity.file}:{entity.start_line}-{entity.end_line}."]
    if entity.signature:
        parts.append(f"Signature: {entity.signature}")
    if entity.doc:
        parts.append(entity.doc)
    return "\n".join(parts)
