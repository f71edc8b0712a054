"""Pack a repository into a reproducible tar.gz of its source files: what `sparkctl ingest ./repo` uploads.

What is left out, with the reason recorded in PackResult.skipped (folders are listed once, with a trailing "/",
and never entered):
- "vcs-or-dependency-dir": a folder of codebase.SKIPPED_DIRS (.git, node_modules, .venv, build, ...);
- "gitignored": matched by a .gitignore, the root's or a nested one, or by .git/info/exclude, with git's rules:
  a pattern is relative to the folder holding its file, the deepest file that matches decides, `!` re-includes,
  and nothing inside an ignored folder comes back;
- "excluded": matched by an `exclude` pattern; "not-included": `include` patterns were given and none matches;
- "document": Markdown, reST, text or PDF, when only code is packed (`documents=False`): the code graph needs
  no model with the hash embedder, and documents need the extract model;
- "symlink": links are never followed, to files or to folders;
- "binary", "too-large", "minified": codebase.text_skip_reason on the content (size first, from the file system);
- "undecodable-name": a name that is not UTF-8, which the worker could not keep either;
- "not-regular" (a FIFO, socket or device) and "unreadable" (no permission).

Patterns (`include`, `exclude`) are gitignore patterns relative to the root: `*.md`, `docs/`, `src/**/*.py`.

The archive is deterministic: regular files only, sorted by path, mtime 0, owner 0:0, mode 0644, and a gzip
header without name or time, so the same tree packs to the same bytes and the same sha256.

Files named on their own (`sparkctl ingest notes.md paper.pdf`) are not packed: read_document reads each one as
it is, and the server decides what it can use.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import mimetypes
import os
import stat
import tarfile
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from pathspec import GitIgnoreSpec

from sparkctl.codebase import MAX_FILE_BYTES, skipped_dir, text_skip_reason
from sparkctl.errors import ConfigError, SparkctlError
from sparkctl.services.preprocessor.languages import document_kind_of

_SPOOL_BYTES = 32 * 1024 * 1024
"""Archives up to this size stay in memory; larger ones spill to a temporary file."""
_COMPRESS_LEVEL = 6
_MAX_IGNORE_FILE_BYTES = 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
"""A file swapped for a link or a FIFO after the scan is neither followed nor waited on."""

_CONTENT_TYPES = {".md": "text/markdown", ".markdown": "text/markdown", ".pdf": "application/pdf"}

_Rules = tuple[tuple[str, GitIgnoreSpec], ...]
"""The ignore files that apply in a folder, root first: (the folder's path with a trailing "/", its patterns)."""


@dataclass(frozen=True)
class PackProgress:
    """Where packing is: scanning finds files (files_total is 0 until it ends), packing reads them."""

    stage: Literal["scanning", "packing"]
    path: str
    files_seen: int
    files_total: int
    files_done: int
    files_packed: int
    bytes_packed: int


@dataclass
class PackResult:
    """A packed repository. `archive` is positioned at its start; close the result (or use `with`) when done."""

    archive: IO[bytes]
    files: list[str]
    raw_bytes: int
    compressed_bytes: int
    sha256: str
    skipped: list[tuple[str, str]]

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(reason for _, reason in self.skipped).items()))

    def read_bytes(self) -> bytes:
        self.archive.seek(0)
        data = self.archive.read()
        self.archive.seek(0)
        return data

    def close(self) -> None:
        self.archive.close()

    def __enter__(self) -> PackResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Document:
    """One file to upload as a document: its name (without folders), content and content type."""

    name: str
    data: bytes
    content_type: str


def split_sources(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(folders, files) among `paths`, in the order given; anything else is an error naming it."""
    folders: list[Path] = []
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            folders.append(path)
        elif path.is_file():
            files.append(path)
        elif path.exists():
            raise SparkctlError(f"{path} is neither a folder nor a regular file", hint="Give folders or files.")
        else:
            raise SparkctlError(f"{path} does not exist", hint="Give the folders and files to ingest.")
    return folders, files


def codebase_name(root: Path) -> str:
    """The name a folder is ingested under; ingesting it again under the same name is incremental."""
    return Path(root).resolve().name or "codebase"


def read_document(path: Path) -> Document:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SparkctlError(f"cannot read {path}: {exc.strerror}", hint="Check the file's permissions.") from None
    if not data:
        raise SparkctlError(f"{path} is empty", hint="Give files with content.")
    return Document(path.name, data, _content_type(path.name, data))


def _content_type(name: str, data: bytes) -> str:
    """Informative only (the server goes by the name): PDF, Markdown, another text type, or text by content."""
    known = _CONTENT_TYPES.get(PurePosixPath(name).suffix.lower())
    if known:
        return known
    guessed = mimetypes.guess_type(name)[0]
    if guessed and guessed.startswith("text/"):
        return guessed
    return "application/octet-stream" if text_skip_reason(data, max_bytes=len(data)) else "text/plain"


@dataclass(frozen=True)
class _Candidate:
    path: str
    source: str
    size: int


class _HashingSink:
    """Where gzip writes: counts and hashes the compressed bytes on their way to the spool."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()


def pack_directory(
    root: Path,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_file_bytes: int = MAX_FILE_BYTES,
    documents: bool = True,
    on_progress: Callable[[PackProgress], None] | None = None,
) -> PackResult:
    """The source files under `root` as a deterministic tar.gz, and what was left out and why; `documents=False`
    leaves the documents out."""
    root = Path(root)
    if not root.exists():
        raise SparkctlError(f"{root} does not exist", hint="Give the folder of the repository to ingest.")
    if not root.is_dir():
        raise SparkctlError(f"{root} is not a folder", hint="Give the folder that holds the repository, not a file.")
    include_spec = _patterns(include, "include")
    exclude_spec = _patterns(exclude, "exclude")
    report = on_progress or (lambda _: None)
    skipped: list[tuple[str, str]] = []
    candidates, seen = _scan(root, include_spec, exclude_spec, skipped, report, documents=documents)

    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
    try:
        sink = _HashingSink(spool)
        files: list[str] = []
        raw_bytes = 0
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=_COMPRESS_LEVEL, mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar,
        ):
            for done, candidate in enumerate(candidates, start=1):
                reason, data = _read_source(candidate, max_file_bytes)
                if reason:
                    skipped.append((candidate.path, reason))
                else:
                    tar.addfile(_member(candidate.path, len(data)), io.BytesIO(data))
                    files.append(candidate.path)
                    raw_bytes += len(data)
                report(
                    PackProgress(
                        stage="packing",
                        path=candidate.path,
                        files_seen=seen,
                        files_total=len(candidates),
                        files_done=done,
                        files_packed=len(files),
                        bytes_packed=raw_bytes,
                    )
                )
        skipped.sort()
        if not files:
            raise _nothing_to_pack(root, skipped, bool(include))
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return PackResult(spool, files, raw_bytes, sink.size, sink.digest.hexdigest(), skipped)


def _scan(
    root: Path,
    include: GitIgnoreSpec | None,
    exclude: GitIgnoreSpec | None,
    skipped: list[tuple[str, str]],
    report: Callable[[PackProgress], None],
    *,
    documents: bool,
) -> tuple[list[_Candidate], int]:
    """Every file worth reading, sorted by path, and how many files were looked at; the rest goes to `skipped`."""
    candidates: list[_Candidate] = []
    seen = 0
    info_exclude = _ignore_file(root / ".git" / "info" / "exclude")
    stack: list[tuple[str, str, _Rules]] = [(str(root), "", (("", info_exclude),) if info_exclude else ())]
    while stack:
        folder, prefix, rules = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            if not prefix:
                raise SparkctlError(f"cannot read {root}", hint="Check the folder's permissions.") from None
            skipped.append((prefix, "unreadable"))
            continue
        rules = _with_own_ignore_file(entries, prefix, rules)
        for entry in entries:
            path = prefix + entry.name
            if not _utf8(entry.name):
                skipped.append((_printable(path), "undecodable-name"))
            elif entry.is_dir(follow_symlinks=False):
                reason = _folder_skip_reason(entry.name, path + "/", rules, exclude)
                if reason:
                    skipped.append((path + "/", reason))
                else:
                    stack.append((entry.path, path + "/", rules))
            else:
                seen += 1
                reason = _file_skip_reason(entry, path, rules, include, exclude) or (
                    None if documents or document_kind_of(path) is None else "document"
                )
                if reason:
                    skipped.append((path, reason))
                else:
                    candidates.append(_Candidate(path, entry.path, entry.stat(follow_symlinks=False).st_size))
                report(
                    PackProgress(
                        "scanning", path, files_seen=seen, files_total=0, files_done=0, files_packed=0, bytes_packed=0
                    )
                )
    candidates.sort(key=lambda candidate: candidate.path)
    return candidates, seen


def _folder_skip_reason(name: str, path: str, rules: _Rules, exclude: GitIgnoreSpec | None) -> str | None:
    if skipped_dir(PurePosixPath(name, "-")):
        return "vcs-or-dependency-dir"
    if _ignored(path, rules):
        return "gitignored"
    if exclude is not None and exclude.check_file(path).include:
        return "excluded"
    return None


def _file_skip_reason(
    entry: os.DirEntry[str], path: str, rules: _Rules, include: GitIgnoreSpec | None, exclude: GitIgnoreSpec | None
) -> str | None:
    if _ignored(path, rules):
        return "gitignored"
    if exclude is not None and exclude.check_file(path).include:
        return "excluded"
    if entry.is_symlink():
        return "symlink"
    if not entry.is_file(follow_symlinks=False):
        return "not-regular"
    if include is not None and not include.check_file(path).include:
        return "not-included"
    return None


def _ignored(path: str, rules: _Rules) -> bool:
    """git's verdict: the deepest ignore file with a matching pattern decides, its last matching pattern wins."""
    for prefix, spec in reversed(rules):
        verdict = spec.check_file(path[len(prefix) :]).include
        if verdict is not None:
            return verdict
    return False


def _with_own_ignore_file(entries: list[os.DirEntry[str]], prefix: str, rules: _Rules) -> _Rules:
    for entry in entries:
        if entry.name == ".gitignore" and entry.is_file(follow_symlinks=False):
            spec = _ignore_file(Path(entry.path))
            return (*rules, (prefix, spec)) if spec else rules
    return rules


def _ignore_file(path: Path) -> GitIgnoreSpec | None:
    """The patterns of an ignore file; like git, a line that is not a valid pattern is passed over."""
    try:
        with path.open("rb") as handle:
            text = handle.read(_MAX_IGNORE_FILE_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    lines = text.splitlines()
    try:
        spec = GitIgnoreSpec.from_lines(lines)
    except ValueError:
        spec = GitIgnoreSpec.from_lines([line for line in lines if _valid_pattern(line)])
    return spec if len(spec) else None


def _valid_pattern(line: str) -> bool:
    try:
        GitIgnoreSpec.from_lines([line])
    except ValueError:
        return False
    return True


def _patterns(patterns: Sequence[str], kind: str) -> GitIgnoreSpec | None:
    if not patterns:
        return None
    for pattern in patterns:
        if not _valid_pattern(pattern):
            raise ConfigError(
                f"invalid {kind} pattern {pattern!r}",
                hint="Use gitignore patterns relative to the repository: '*.md', 'docs/', 'src/**/*.py'.",
            )
    return GitIgnoreSpec.from_lines(list(patterns))


def _read_source(candidate: _Candidate, max_file_bytes: int) -> tuple[str | None, bytes]:
    """(reason to skip, b"") or (None, content)."""
    if candidate.size > max_file_bytes:
        return "too-large", b""
    try:
        descriptor = os.open(candidate.source, _OPEN_FLAGS)
    except OSError:
        return "unreadable", b""
    with open(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return "not-regular", b""
        try:
            data = handle.read(max_file_bytes + 1)
        except OSError:
            return "unreadable", b""
    return text_skip_reason(data, max_bytes=max_file_bytes), data


def _member(path: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _nothing_to_pack(root: Path, skipped: list[tuple[str, str]], restricted: bool) -> SparkctlError:
    if not skipped:
        return SparkctlError(
            f"nothing to pack in {root}: the folder holds no files", hint="Give the repository's folder."
        )
    counts = Counter(reason for _, reason in skipped)
    summary = ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))
    if restricted:
        hint = "Check the include patterns: they are gitignore patterns relative to the repository, like 'src/**/*.py'."
    elif "document" in counts:
        hint = "Its documents were left out as asked (--code-only): ingest it without that to index them."
    else:
        hint = (
            "Only source text is packed: check .gitignore and the exclude patterns, and that this is the right folder."
        )
    return SparkctlError(f"nothing to pack in {root}: every entry was left out ({summary})", hint=hint)


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")
