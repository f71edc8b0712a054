"""Chunks cut at syntax boundaries: a definition per chunk where it fits the token budget, its nested
definitions where it does not, then groups of whole lines. Every line of a file is in exactly one chunk."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from sparkctl.services.common.parsed import Chunk
from sparkctl.services.preprocessor.code import Span

TokenCounter = Callable[[str], int]
DEFAULT_BUDGET = 1200


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
    tokens: TokenCounter = estimate_tokens,
) -> list[Chunk]:
    """Cover lines 1..len(lines) with chunks cut at definition boundaries."""
    ranges: list[tuple[int, int]] = []
    _cover(lines, 1, len(lines), sorted(spans, key=lambda s: s.start), budget, tokens, ranges)
    return [
        Chunk(id=chunk_id(path, content), file=path, start_line=start, end_line=end, content=content, language=language)
        for start, end in ranges
        if (content := "".join(lines[start - 1 : end])).strip()
    ]


def _cover(
    lines: list[str],
    start: int,
    end: int,
    spans: list[Span],
    budget: int,
    tokens: TokenCounter,
    out: list[tuple[int, int]],
) -> None:
    """Ranges covering start..end: definitions whole when they fit, glue between them grouped."""
    cursor = start
    for span in spans:
        if span.start < cursor or span.end > end:
            continue
        if span.start > cursor:
            _lines_under_budget(lines, cursor, span.start - 1, budget, tokens, out)
        if _fits(lines, span.start, span.end, budget, tokens) or not span.children:
            _lines_under_budget(lines, span.start, span.end, budget, tokens, out)
        else:
            _cover(lines, span.start, span.end, sorted(span.children, key=lambda s: s.start), budget, tokens, out)
        cursor = span.end + 1
    if cursor <= end:
        _lines_under_budget(lines, cursor, end, budget, tokens, out)


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
