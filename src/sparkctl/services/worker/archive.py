"""Safe extraction of an uploaded codebase archive, in memory: nothing is ever written to disk.

The format is found from the content, not the name: tar (plain, gzip, bzip2, xz) or zip.

The whole archive is refused (ArchiveError, the reason in the message) when it is hostile or broken:
- a member path that is absolute, has a drive letter, or climbs out with `..` (zip slip, also with `\\`);
- a symbolic or hard link, a device file or a FIFO;
- more regular files than `max_files`;
- more than `max_total_bytes` once decompressed, or a compression ratio above `max_ratio` (a bomb):
  sizes are counted on the bytes actually produced, read in bounded pieces, never on headers alone;
- a corrupt or truncated archive, or a format that is none of the above.

Single members are skipped, with a reason, when they are not worth indexing: over `max_file_bytes`
("too-large"), inside a VCS, dependency or build folder ("vcs-or-dependency-dir"), binary or minified
(see sparkctl.codebase), or named with bytes that are not UTF-8 ("undecodable-name"). An empty
archive extracts to no files.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO

from sparkctl.codebase import MAX_FILE_BYTES, skipped_dir, text_skip_reason
from sparkctl.errors import ArchiveError

_HINT = "Pack the repository again (sparkctl ingest packs it safely)."
_RATIO_FLOOR = 16 * 1024 * 1024
"""Below this much output a high ratio is harmless and common (tar headers of many tiny files), so it is not checked."""
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ArchiveLimits:
    max_files: int = 2000
    max_file_bytes: int = MAX_FILE_BYTES
    max_total_bytes: int = 256 * 1024 * 1024
    max_ratio: float = 200.0


@dataclass
class Extracted:
    files: list[tuple[str, bytes]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def extract_archive(data: bytes, *, limits: ArchiveLimits = ArchiveLimits()) -> Extracted:
    """The regular files of an archive as (path, bytes), and what was skipped and why."""
    kind = archive_kind(data)
    try:
        if kind == "zip":
            return _extract_zip(data, limits)
        return _extract_tar(data, kind, limits)
    except ArchiveError:
        raise
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError) as exc:
        raise ArchiveError(f"corrupt archive: {exc or type(exc).__name__}", hint=_HINT) from None


def archive_kind(data: bytes) -> str:
    """tar, tar.gz, tar.bz2, tar.xz or zip, from the first bytes; ArchiveError for anything else."""
    if data.startswith(b"\x1f\x8b"):
        return "tar.gz"
    if data.startswith(b"BZh"):
        return "tar.bz2"
    if data.startswith(b"\xfd7zXZ\x00"):
        return "tar.xz"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if len(data) >= 262 and data[257:262] == b"ustar":
        return "tar"
    if data and len(data) % 512 == 0 and not data.strip(b"\0"):
        return "tar"
    preview = data[:16].hex(" ") if data else "nothing"
    raise ArchiveError(
        f"not an archive sparkctl can read (it starts with {preview})",
        hint="Send a tar, tar.gz, tar.bz2, tar.xz or zip archive.",
    )


class _Budget:
    """Counts decompressed bytes and stops a bomb as soon as a limit is crossed."""

    def __init__(self, compressed: int, limits: ArchiveLimits) -> None:
        self.compressed = max(compressed, 1)
        self.limits = limits
        self.total = 0

    def spend(self, produced: int) -> None:
        self.total += produced
        if self.total > self.limits.max_total_bytes:
            raise ArchiveError(
                f"refused archive: more than {self.limits.max_total_bytes} bytes once decompressed", hint=_HINT
            )
        if self.total > _RATIO_FLOOR and self.total / self.compressed > self.limits.max_ratio:
            raise ArchiveError(
                f"refused archive: compression ratio over {self.limits.max_ratio:.0f}:1 (a decompression bomb?)",
                hint=_HINT,
            )


class _Metered(io.RawIOBase):
    """A decompressing stream whose output is charged to a budget as it is read."""

    def __init__(self, inner: IO[bytes], budget: _Budget) -> None:
        self.inner = inner
        self.budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self.inner.read(min(len(buffer), 1024 * 1024))
        self.budget.spend(len(chunk))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _decompressed(data: bytes, kind: str, budget: _Budget) -> IO[bytes]:
    """A stream of the decompressed tar; it reads from memory, so closing it is never needed."""
    raw = io.BytesIO(data)
    if kind == "tar.gz":
        inner: IO[bytes] = gzip.GzipFile(fileobj=raw)
    elif kind == "tar.bz2":
        inner = bz2.BZ2File(raw)
    elif kind == "tar.xz":
        inner = lzma.LZMAFile(raw)  # noqa: SIM115
    else:
        inner = raw
    return io.BufferedReader(_Metered(inner, budget), buffer_size=1024 * 1024)


def _extract_tar(data: bytes, kind: str, limits: ArchiveLimits) -> Extracted:
    budget = _Budget(len(data), limits)
    result = Extracted()
    count = 0
    with tarfile.open(fileobj=_decompressed(data, kind, budget), mode="r|") as archive:
        for member in archive:
            path = _safe_path(member.name)
            if member.issym() or member.islnk():
                raise ArchiveError(
                    f"refused archive: {path} is a link (to {member.linkname!r}); links are not accepted", hint=_HINT
                )
            if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
                raise ArchiveError(f"refused archive: {path} is a device or FIFO", hint=_HINT)
            if not member.isreg():
                continue
            count += 1
            _check_count(count, limits)
            reason = _member_skip_reason(path, member.size, limits)
            if reason:
                result.skipped.append((_printable(path), reason))
                continue
            reader = archive.extractfile(member)
            content = reader.read() if reader is not None else b""
            _keep(result, path, content, limits)
    return result


def _extract_zip(data: bytes, limits: ArchiveLimits) -> Extracted:
    budget = _Budget(len(data), limits)
    result = Extracted()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = archive.infolist()
        regular = [info for info in entries if not info.is_dir()]
        _check_count(len(regular), limits)
        for info in regular:
            path = _safe_path(_zip_name(info))
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArchiveError(f"refused archive: {path} is a link; links are not accepted", hint=_HINT)
            if mode and not stat.S_ISREG(mode) and stat.S_IFMT(mode):
                raise ArchiveError(f"refused archive: {path} is a device or FIFO", hint=_HINT)
            if info.file_size > _RATIO_FLOOR and info.file_size / max(info.compress_size, 1) > limits.max_ratio:
                raise ArchiveError(
                    f"refused archive: {path} has a compression ratio over {limits.max_ratio:.0f}:1 "
                    "(a decompression bomb?)",
                    hint=_HINT,
                )
            reason = _member_skip_reason(path, info.file_size, limits)
            if reason:
                result.skipped.append((_printable(path), reason))
                continue
            with archive.open(info) as member:
                content = member.read(limits.max_file_bytes + 1)
            budget.spend(len(content))
            if len(content) > limits.max_file_bytes:
                result.skipped.append((_printable(path), "too-large"))
                continue
            _keep(result, path, content, limits)
    return result


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The member name; one that was not UTF-8 comes back with surrogate escapes (flag bit 11 unset)."""
    if info.flag_bits & 0x800 or info.filename.isascii():
        return info.filename
    raw = info.filename.encode("cp437")
    return raw.decode("utf-8", errors="surrogateescape")


def _safe_path(name: str) -> str:
    """The member's relative POSIX path; ArchiveError when it could escape the extraction root."""
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE.match(unified):
        raise ArchiveError(f"refused archive: member {_printable(name)!r} has an absolute path", hint=_HINT)
    parts = [part for part in PurePosixPath(unified).parts if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"refused archive: member {_printable(name)!r} escapes the archive with '..'", hint=_HINT)
    return "/".join(parts)


def _check_count(count: int, limits: ArchiveLimits) -> None:
    if count > limits.max_files:
        raise ArchiveError(
            f"refused archive: more than {limits.max_files} files",
            hint="Ingest a smaller part of the repository (--include/--exclude), or raise the worker's max_files.",
        )


def _member_skip_reason(path: str, size: int, limits: ArchiveLimits) -> str | None:
    if not path:
        return "empty-name"
    if _has_surrogates(path):
        return "undecodable-name"
    if skipped_dir(path):
        return "vcs-or-dependency-dir"
    if size > limits.max_file_bytes:
        return "too-large"
    return None


def _keep(result: Extracted, path: str, content: bytes, limits: ArchiveLimits) -> None:
    reason = text_skip_reason(content, max_bytes=limits.max_file_bytes)
    if reason:
        result.skipped.append((path, reason))
    else:
        result.files.append((path, content))


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _printable(text: str) -> str:
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")
