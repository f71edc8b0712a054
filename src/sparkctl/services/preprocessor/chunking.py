"""Chunks cut at syntax boundaries: whole definitions, with neighbouring ones (and the lines between them) sharing
a chunk up to a packing size, a definition over the token budget split at its nested definitions, then groups of
whole lines. A definition is never cut while it fits the budget. Every line of a file is in exactly one chunk.

Packing keeps a chunk a readable piece of a file (a class's small methods together) rather than one per one-line
function: a repository's chunks are fewer by half or more, and each holds what a reader of one would want beside
it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from sparkctl.services.common.parsed import Chunk
from sparkctl.services.preprocessor.code import Span

TokenCounter = Callable[[str], int]
DEFAULT_BUDGET = 1200
DEFAULT_PACK = 400
"""Neighbouring definitions share a chunk until it holds about this many tokens."""


def estimate_tokens(text: str) -> int:
    """About four characters a token: close enough to size chunks for an embedding model."""
    return len(text) // 4 + 1


def chunk_id(path: str, content: str) -> str:
    """Stable across ingests: the same file content gives the same ids, so re-inserting overwrites."""
    return "chunk-" + hashlib.sha256(f"{path}\0{content}".encode()).hexdigest()[:32]


def code_chunks(
    path: str,
    language: str,
    lines: list[str],
    spans: list[Span],
    *,
    budget: int = DEFAULT_BUDGET,
    pack: int = DEFAULT_PACK,
    tokens: TokenCounter = estimate_tokens,
) -> list[Chunk]:
    """Cover lines 1..len(lines) with chunks cut at definition boundaries."""
    ranges: list[tuple[int, int]] = []
    sizes = _Sizes(budget, min(pack, budget), tokens)
    _cover(lines, 1, len(lines), sorted(spans, key=lambda s: s.start), sizes, ranges)
    return [
        Chunk(id=chunk_id(path, content), file=path, start_line=start, end_line=end, content=content, language=language)
        for start, end in ranges
        if (content := "".join(lines[start - 1 : end])).strip()
    ]


@dataclass(frozen=True)
class _Sizes:
    budget: int
    pack: int
    tokens: TokenCounter


def _cover(
    lines: list[str], start: int, end: int, spans: list[Span], sizes: _Sizes, out: list[tuple[int, int]]
) -> None:
    """Ranges covering start..end: the definitions of one level and the lines between them, packed in order."""
    pieces: list[tuple[int, int, Span | None]] = []
    cursor = start
    for span in spans:
        if span.start < cursor or span.end > end:
            continue
        if span.start > cursor:
            pieces.append((cursor, span.start - 1, None))
        pieces.append((span.start, span.end, span))
        cursor = span.end + 1
    if cursor <= end:
        pieces.append((cursor, end, None))
    group: list[int] = []
    size = 0
    for piece_start, piece_end, span in pieces:
        cost = sizes.tokens("".join(lines[piece_start - 1 : piece_end]))
        if cost > sizes.budget:
            _flush(group, out)
            group, size = [], 0
            if span is not None and span.children:
                _cover(lines, piece_start, piece_end, sorted(span.children, key=lambda s: s.start), sizes, out)
            else:
                _lines_under_budget(lines, piece_start, piece_end, sizes.budget, sizes.tokens, out)
            continue
        if group and size + cost > sizes.pack:
            _flush(group, out)
            group, size = [], 0
        group += [piece_start, piece_end]
        size += cost
    _flush(group, out)


def _flush(group: list[int], out: list[tuple[int, int]]) -> None:
    if group:
        out.append((group[0], group[-1]))


def _fits(lines: list[str], start: int, end: int, budget: int, tokens: TokenCounter) -> bool:
    return tokens("".join(lines[start - 1 : end])) <= budget


def _lines_under_budget(
    lines: list[str], start: int, end: int, budget: int, tokens: TokenCounter, out: list[tuple[int, int]]
) -> None:
    """Whole lines, grouped greedily up to the budget (a single longer line is a chunk of its own)."""
    if _fits(lines, start, end, budget, tokens):
        out.append((start, end))
        return
    group_start, size = start, 0
    for number in range(start, end + 1):
        cost = tokens(lines[number - 1])
        if size and size + cost > budget:
            out.append((group_start, number - 1))
            group_start, size = number, 0
        size += cost
    if group_start <= end:
        out.append((group_start, end))
