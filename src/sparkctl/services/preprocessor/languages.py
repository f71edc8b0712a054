"""The one module that knows the tree-sitter binding: which file is which language, and its parser.

tree-sitter-languages needs tree-sitter < 0.22; moving to tree-sitter-language-pack changes only this file.
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import PurePosixPath
from typing import Any

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
}

DOCUMENT_EXTENSIONS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".rst": "rst",
    ".txt": "text",
    ".pdf": "pdf",
}


def language_of(path: str) -> str | None:
    """The code language of a path by its extension, or None."""
    return EXTENSIONS.get(PurePosixPath(path).suffix.lower())


def document_kind_of(path: str) -> str | None:
    """markdown, rst, text or pdf for document files, else None."""
    name = PurePosixPath(path)
    if name.suffix == "" and name.name.upper() in {"README", "LICENSE", "CHANGELOG", "NOTICE", "AUTHORS"}:
        return "text"
    return DOCUMENT_EXTENSIONS.get(name.suffix.lower())


@cache
def parser_for(language: str) -> Any:
    """A tree-sitter parser for the language (cached: parsers are reused across files)."""
    import tree_sitter_languages

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return tree_sitter_languages.get_parser(language)


def parse_tree(language: str, source: bytes) -> Any:
    return parser_for(language).parse(source)


@cache
def query_for(language: str, captures: tuple[tuple[str, str], ...]) -> Any:
    """A compiled query capturing nodes of the given types, `(node_type, capture_name)` pairs.

    Node types the grammar does not know are left out, so one table can serve related grammars.
    """
    import tree_sitter_languages

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        grammar = tree_sitter_languages.get_language(language)
    patterns = []
    for node_type, name in captures:
        pattern = f"({node_type}) @{name}"
        try:
            grammar.query(pattern)
        except Exception:
            continue
        patterns.append(pattern)
    return grammar.query("\n".join(patterns))
