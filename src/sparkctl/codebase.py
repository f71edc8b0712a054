"""What counts as part of a codebase: folders never worth indexing and files that are not source text.

Shared by the client that packs a repository and the worker that unpacks it, so both skip the same things.
"""

from __future__ import annotations

from pathlib import PurePosixPath

SKIPPED_DIRS: frozenset[str] = frozenset(
    {
        # version control
        ".git",
        ".hg",
        ".svn",
        ".bzr",
        # dependencies
        "node_modules",
        "bower_components",
        "vendor",
        ".venv",
        "venv",
        "env",
        "site-packages",
        ".tox",
        ".nox",
        ".bundle",
        # build output and caches
        "build",
        "dist",
        "target",
        "out",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".gradle",
        ".idea",
        ".vscode",
        ".next",
        ".nuxt",
        ".cache",
        ".eggs",
        "coverage",
        "htmlcov",
    }
)

MAX_FILE_BYTES = 1024 * 1024
"""Files larger than this are skipped (1 MiB)."""

MAX_LINE_CHARS = 1000
"""A file whose longest line is longer than this is taken as generated or minified."""

MAX_INVALID_UTF8_RATIO = 0.02
"""Share of undecodable bytes above which a file is taken as binary."""


def skipped_dir(path: str | PurePosixPath) -> str | None:
    """The folder of `path` that puts it out of the codebase, or None."""
    for part in PurePosixPath(path).parts[:-1]:
        if part in SKIPPED_DIRS or part.endswith(".egg-info"):
            return part
    return None


def text_skip_reason(data: bytes, *, max_bytes: int = MAX_FILE_BYTES) -> str | None:
    """Why `data` is not worth indexing as source text ("binary", "too-large", "minified"), or None."""
    if len(data) > max_bytes:
        return "too-large"
    sample = data[:65536]
    if b"\0" in sample:
        return "binary"
    text = sample.decode("utf-8", errors="replace")
    if sample and text.count("\ufffd") / len(sample) > MAX_INVALID_UTF8_RATIO:
        return "binary"
    if max(map(len, text.splitlines()), default=0) > MAX_LINE_CHARS:
        return "minified"
    return None
