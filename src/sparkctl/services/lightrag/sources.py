"""File paths as LightRAG stores them.

LightRAG keeps only the basename of a document's file path (`normalize_document_file_path`), so
`src/a/__init__.py` and `src/b/__init__.py` would become one source and deleting one file's data
would be impossible. The service therefore percent-encodes every path into a single name segment
before LightRAG sees it (`/` becomes `%2F`, so the "basename" is the whole path) and decodes
`file_path` values on the way out. Values LightRAG joins with its `<SEP>` separator decode piecewise
for free: the encoding never produces `<`, `>` or `/`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

PLACEHOLDER = "unknown_source"
"""LightRAG's name for a text without a source."""


def to_stored(path: str | None) -> str:
    """The name LightRAG keeps for `path`."""
    if path is None or not path.strip():
        return PLACEHOLDER
    return quote(path.strip(), safe="")


def from_stored(value: str) -> str:
    """The original path (or `<SEP>`-joined paths) of a stored value."""
    return unquote(value)


def decode_file_paths(value: Any) -> Any:
    """A copy of a JSON-like value with every `file_path` string decoded."""
    if isinstance(value, dict):
        return {
            key: from_stored(item) if key == "file_path" and isinstance(item, str) else decode_file_paths(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [decode_file_paths(item) for item in value]
    return value
