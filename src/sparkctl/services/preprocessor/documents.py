"""Prose: Markdown, reStructuredText and text split by headings; PDFs per page. Code blocks stay whole."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from sparkctl.services.common.parsed import Chunk
from sparkctl.services.preprocessor.chunking import DEFAULT_BUDGET, TokenCounter, chunk_id, estimate_tokens

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")


class UnreadableDocument(Exception):
    """A document that cannot be read (an encrypted or malformed PDF): the reason is the message."""


@dataclass
class Section:
    heading: str | None
    start_line: int
    lines: list[str]


def document_chunks(
    path: str, kind: str, data: bytes, *, budget: int = DEFAULT_BUDGET, tokens: TokenCounter = estimate_tokens
) -> list[Chunk]:
    if kind == "pdf":
        sections = pdf_sections(data)
    else:
        text = data.decode("utf-8", errors="replace")
        sections = (
            markdown_sections(text)
            if kind == "markdown"
            else rst_sections(text)
            if kind == "rst"
            else [Section(None, 1, text.splitlines(keepends=True))]
        )
    chunks: list[Chunk] = []
    for section in sections:
        for start, block in _blocks_under_budget(section, budget, tokens):
            content = "".join(block).strip()
            if content:
                chunks.append(
                    Chunk(
                        id=chunk_id(path, content),
                        file=path,
                        start_line=start,
                        end_line=start + len(block) - 1,
                        content=content,
                        language=kind,
                        heading=section.heading,
                    )
                )
    return chunks


def markdown_sections(text: str) -> list[Section]:
    sections = [Section(None, 1, [])]
    trail: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _MD_HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            trail = [item for item in trail if item[0] < level] + [(level, heading.group(2))]
            sections.append(Section(" > ".join(title for _, title in trail), number, []))
        sections[-1].lines.append(line)
    return [section for section in sections if "".join(section.lines).strip()]


def rst_sections(text: str) -> list[Section]:
    lines = text.splitlines(keepends=True)
    sections = [Section(None, 1, [])]
    levels: list[str] = []
    trail: list[str] = []
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        underline = _RST_UNDERLINE.match(following)
        if line.strip() and underline and len(following.strip()) >= len(line.strip()):
            mark = underline.group(1)
            if mark not in levels:
                levels.append(mark)
            depth = levels.index(mark)
            trail = [*trail[:depth], line.strip()]
            sections.append(Section(" > ".join(trail), index + 1, []))
        sections[-1].lines.append(line)
    return [section for section in sections if "".join(section.lines).strip()]


def pdf_sections(data: bytes) -> list[Section]:
    """One section per page, headed "page N"; UnreadableDocument for encrypted or malformed files."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument("encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableDocument:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise UnreadableDocument(f"malformed PDF: {exc}") from None
    except Exception as exc:
        if "encrypt" in str(exc).lower() or "decrypt" in str(exc).lower():
            raise UnreadableDocument("encrypted PDF") from None
        raise UnreadableDocument(f"malformed PDF: {type(exc).__name__}: {exc}") from None
    return [
        Section(f"page {number}", 1, text.splitlines(keepends=True))
        for number, text in enumerate(pages, start=1)
        if text.strip()
    ]


def _blocks_under_budget(section: Section, budget: int, tokens: TokenCounter) -> list[tuple[int, list[str]]]:
    """Paragraphs grouped up to the budget; a fenced or indented code block is never split."""
    paragraphs = _paragraphs(section.lines)
    groups: list[tuple[int, list[str]]] = []
    start, group, size = section.start_line, [], 0
    offset = section.start_line
    for paragraph in paragraphs:
        cost = tokens("".join(paragraph))
        if group and size + cost > budget:
            groups.append((start, group))
            start, group, size = offset, [], 0
        group.extend(paragraph)
        size += cost
        offset += len(paragraph)
    if group:
        groups.append((start, group))
    return groups


def _paragraphs(lines: list[str]) -> list[list[str]]:
    """Blank-line separated blocks; fenced blocks and runs of indented lines are kept as one block."""
    blocks: list[list[str]] = [[]]
    fenced = False
    for line in lines:
        if _FENCE.match(line):
            fenced = not fenced
        blank = not line.strip()
        indented_code = blocks[-1] and _indented(blocks[-1][-1]) and (blank or _indented(line))
        if blank and not fenced and not indented_code:
            blocks[-1].append(line)
            blocks.append([])
        else:
            blocks[-1].append(line)
    return [block for block in blocks if block]


def _indented(line: str) -> bool:
    return line.startswith(("    ", "\t")) and bool(line.strip())
