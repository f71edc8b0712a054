"""Safe extraction of an uploaded codebase archive, read from bytes or a file: no member is ever written to disk.

The format is found from the content, not the name: tar (plain, gzip, bzip2, xz) or zip.

The whole archive is refused (ArchiveError, the reason in the message) when it is hostile or broken:
- "member ... has an absolute path": a leading `/` or `\\`, or a drive letter (`C:`);
- "member ... escapes the archive with '..'": a `..` component, also spelt with `\\` (zip slip);
- "... is a link": a symbolic or hard link (even one that points inside the archive);
- "... is a device or FIFO";
- "member ... appears more than once": two members that name the same file make the content ambiguous;
- "more than N files (the worker's SPARKCTL_MAX_FILES)": counted on regular files, wherever they are;
- "more than N bytes once decompressed (the worker's SPARKCTL_MAX_TOTAL_BYTES)": counted on the bytes actually
  produced, read in bounded pieces;
  a zip is also refused up front when the sizes its directory declares add up to more;
- "its xz stream needs more than 128 MiB to decompress": an xz header asking for a huge dictionary;
- "compression ratio over N:1": overall, once more than 16 MiB came out, on the bytes actually produced;
  for a zip also per member, on its declared sizes. A bomb is stopped while it inflates, never inflated whole;
- "corrupt archive: ...": a bad gzip/bzip2/xz stream, a truncated tar or one with a broken header, a zip
  with a bad CRC (how a zip header lying about its size shows up: reads stop at the declared size);
- "not an archive sparkctl can read": anything else, naming what it looks like (7z, RAR, PDF, text, ...).

Single members are skipped, with a reason, when they are not worth indexing or cannot be read safely:
"too-large" (over `max_file_bytes`), "vcs-or-dependency-dir" (inside one of codebase.SKIPPED_DIRS),
"binary" and "minified" (codebase.text_skip_reason), "undecodable-name" (a name whose bytes are not
UTF-8: rather than guess an encoding, the file is left out and listed with its bytes escaped),
"encrypted" (a password-protected zip member), "unsupported-compression" (a zip member neither stored nor
deflated: the standard library cannot bound how much a bzip2 or LZMA member inflates in one read).
Folders are ignored; an empty archive extracts to no files. Paths come back relative and POSIX, without
a leading `./`.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Protocol

from sparkctl.codebase import MAX_FILE_BYTES, skipped_dir, text_skip_reason
from sparkctl.errors import ArchiveError

_HINT = "Pack the repository again with `sparkctl ingest`, which leaves out what the worker refuses."
_RATIO_FLOOR = 16 * 1024 * 1024
"""Below this much output a high ratio is harmless and common (tar headers of many tiny files), so it is not checked."""
_CHUNK = 1024 * 1024
_PIECE = 64 * 1024
"""Zip members are read this much at a time, each piece charged to the budget as it comes out."""
_XZ_MEMORY = 128 * 1024 * 1024
"""Enough for any `xz -9e` stream (64 MiB dictionary); a header asking for more is refused, not allocated."""
_DRIVE = re.compile(r"^[A-Za-z]:")
_READABLE_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_CORRUPT = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    struct.error,
    EOFError,
    OSError,
    ValueError,
)
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd stream"),
    (b"\x04\x22\x4d\x18", "an LZ4 stream"),
    (b"\xed\xab\xee\xdb", "an RPM package"),
    (b"!<arch>\n", "an ar archive (a .deb?)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
)


@dataclass(frozen=True)
class ArchiveLimits:
    """What an upload may hold: by default, what real monorepos need (kubernetes/kubernetes: 28 000 files, the
    Linux kernel: 90 000 files and 1.5 GB). The worker's settings start from these defaults."""

    max_files: int = 200_000
    max_file_bytes: int = MAX_FILE_BYTES
    max_total_bytes: int = 4 * 1024 * 1024 * 1024
    max_ratio: float = 100.0

    def __post_init__(self) -> None:
        if min(self.max_files, self.max_file_bytes, self.max_total_bytes, self.max_ratio) <= 0:
            raise ValueError(f"archive limits must be positive: {self}")


DEFAULT_LIMITS = ArchiveLimits()


@dataclass
class Extracted:
    """The kept files as (path, content) in archive order, and (path, reason) for every file left out."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def extract_archive(data: bytes | IO[bytes], *, limits: ArchiveLimits = ArchiveLimits()) -> Extracted:
    """The regular files of an archive (bytes, or a seekable file such as a spooled upload), and what was
    skipped and why; ArchiveError when it is refused."""
    source = _seekable(data)
    kind = archive_kind(source)
    size = source.seek(0, io.SEEK_END)
    source.seek(0)
    try:
        if kind == "zip":
            return _extract_zip(source, size, limits)
        return _extract_tar(source, size, kind, limits)
    except ArchiveError:
        raise
    except lzma.LZMAError as exc:
        if "memory usage limit" in str(exc).lower():
            raise ArchiveError(
                f"refused archive: its xz stream needs more than {_XZ_MEMORY // (1024 * 1024)} MiB to decompress",
                hint=_HINT,
            ) from None
        raise ArchiveError(f"corrupt archive: {exc}", hint=_HINT) from None
    except _CORRUPT as exc:
        raise ArchiveError(f"corrupt archive: {str(exc) or type(exc).__name__}", hint=_HINT) from None


def archive_kind(data: bytes | IO[bytes]) -> str:
    """tar, tar.gz, tar.bz2, tar.xz or zip, from the first bytes; ArchiveError for anything else."""
    source = _seekable(data)
    source.seek(0)
    head = source.read(512)
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    if head.startswith(b"BZh"):
        return "tar.bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "tar.xz"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    if _only_zero_blocks(source):
        return "tar"
    raise ArchiveError(
        f"not an archive sparkctl can read: {_looks_like(head)}",
        hint="Send a tar, tar.gz, tar.bz2, tar.xz or zip archive.",
    )


def _seekable(data: bytes | IO[bytes]) -> IO[bytes]:
    return io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data


def _only_zero_blocks(source: IO[bytes]) -> bool:
    """A tar of nothing but its end-of-archive blocks: whole 512-byte blocks of zeros, at least one."""
    size = source.seek(0, io.SEEK_END)
    if size == 0 or size % 512:
        return False
    source.seek(0)
    while piece := source.read(_CHUNK):
        if piece.strip(b"\0"):
            return False
    return True


def _looks_like(data: bytes) -> str:
    if not data:
        return "the upload is empty"
    preview = data[:8].hex(" ")
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return f"it looks like {name} (starts with {preview})"
    try:
        data[:512].decode("utf-8")
    except UnicodeDecodeError:
        return f"unknown binary data (starts with {preview})"
    return f"it looks like text (starts with {preview})"


class _Budget:
    """Counts decompressed bytes and stops a bomb as soon as a limit is crossed."""

    def __init__(self, compressed: int, limits: ArchiveLimits) -> None:
        self.compressed = max(compressed, 1)
        self.limits = limits
        self.total = 0

    def spend(self, produced: int) -> None:
        self.total += produced
        if self.total > self.limits.max_total_bytes:
            raise _too_big(self.limits)
        if self.total > _RATIO_FLOOR and self.total / self.compressed > self.limits.max_ratio:
            raise ArchiveError(
                f"refused archive: compression ratio over {self.limits.max_ratio:.0f}:1 (a decompression bomb?)",
                hint=_HINT,
            )


class _Metered(io.RawIOBase):
    """A decompressing stream whose output is charged to a budget as it is read."""

    def __init__(self, inner: IO[bytes] | io.RawIOBase, budget: _Budget) -> None:
        self.inner = inner
        self.budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self.inner.read(min(len(buffer), _CHUNK))
        self.budget.spend(len(chunk))
        buffer[: len(chunk)] = chunk
        return len(chunk)


class _StrictTarInfo(tarfile.TarInfo):
    """Header parsing that tells a tar's end-of-archive marker from a truncated or broken header.

    tarfile ends quietly at a bad header after the first one, which would silently drop the rest of the archive.
    """

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tarfile_)
        except tarfile.EOFHeaderError:
            raise
        except (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError) as exc:
            if tarfile_.offset == 0:
                raise
            raise ArchiveError(
                f"corrupt archive: truncated tar, it ends inside or before a header ({exc})", hint=_HINT
            ) from None
        except tarfile.InvalidHeaderError as exc:
            if tarfile_.offset == 0:
                raise
            raise ArchiveError(
                f"corrupt archive: broken tar header at byte {tarfile_.offset} ({exc})", hint=_HINT
            ) from None


class _Decompressor(Protocol):
    eof: bool
    needs_input: bool
    unused_data: bytes

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Inflating(io.RawIOBase):
    """A bzip2 or xz stream (or several, one after the other) inflated piece by piece, never more than asked for.

    What bz2.BZ2File and lzma.LZMAFile do, plus a memory limit for xz, whose header may ask for a dictionary
    of gigabytes that the decoder would allocate before producing a byte.
    """

    def __init__(self, source: IO[bytes], new_decompressor: Callable[[], _Decompressor]) -> None:
        self.input = source
        self.new_decompressor = new_decompressor
        self.decompressor = new_decompressor()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self._inflate(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def _inflate(self, size: int) -> bytes:
        while True:
            if self.decompressor.eof:
                rest = self.decompressor.unused_data or self.input.read(_CHUNK)
                if not rest:
                    return b""
                self.decompressor = self.new_decompressor()
                try:
                    chunk = self.decompressor.decompress(rest, size)
                except (OSError, lzma.LZMAError):
                    return b""
            elif self.decompressor.needs_input:
                compressed = self.input.read(_CHUNK)
                if not compressed:
                    raise EOFError("compressed stream ended before the end-of-stream marker was reached")
                chunk = self.decompressor.decompress(compressed, size)
            else:
                chunk = self.decompressor.decompress(b"", size)
            if chunk:
                return chunk


def _xz_decompressor() -> _Decompressor:
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=_XZ_MEMORY)


def _decompressed(source: IO[bytes], kind: str, budget: _Budget) -> IO[bytes]:
    """A stream of the decompressed tar; closing it is never needed (the source is its caller's)."""
    inner: IO[bytes] | io.RawIOBase
    if kind == "tar.gz":
        inner = gzip.GzipFile(fileobj=source, mode="rb")
    elif kind == "tar.bz2":
        inner = _Inflating(source, bz2.BZ2Decompressor)
    elif kind == "tar.xz":
        inner = _Inflating(source, _xz_decompressor)
    else:
        inner = source
    return io.BufferedReader(_Metered(inner, budget), buffer_size=_CHUNK)


def _extract_tar(source: IO[bytes], size: int, kind: str, limits: ArchiveLimits) -> Extracted:
    budget = _Budget(size, limits)
    result = Extracted()
    seen: set[str] = set()
    stream = _decompressed(source, kind, budget)
    with tarfile.open(
        fileobj=stream, mode="r|", tarinfo=_StrictTarInfo, encoding="utf-8", errors="surrogateescape"
    ) as archive:
        while (member := archive.next()) is not None:
            # Stream mode keeps every header it read; nothing here needs them, so memory stays flat
            # however many folders an archive holds.
            archive.members.clear()
            path = _safe_path(member.name)
            if member.issym() or member.islnk():
                raise ArchiveError(
                    f"refused archive: {_printable(path)} is a link (to {_printable(member.linkname)!r}); "
                    "links are not accepted",
                    hint=_HINT,
                )
            if member.ischr() or member.isblk() or member.isfifo():
                raise ArchiveError(f"refused archive: {_printable(path)} is a device or FIFO", hint=_HINT)
            if not member.isreg():
                continue
            _check_new(path, seen, limits)
            reason = _member_skip_reason(path, member.size, limits)
            if reason:
                result.skipped.append((_printable(path), reason))
                continue
            reader = archive.extractfile(member)
            _keep(result, path, reader.read() if reader is not None else b"", limits)
    return result


def _extract_zip(source: IO[bytes], size: int, limits: ArchiveLimits) -> Extracted:
    budget = _Budget(size, limits)
    result = Extracted()
    seen: set[str] = set()
    with zipfile.ZipFile(source) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) > limits.max_files:
            raise _too_many(limits)
        if sum(info.file_size for info in members) > limits.max_total_bytes:
            raise _too_big(limits)
        for info in members:
            path = _safe_path(_zip_name(info))
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArchiveError(f"refused archive: {_printable(path)} is a link; links are not accepted", hint=_HINT)
            if stat.S_ISDIR(mode):
                continue
            if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                raise ArchiveError(f"refused archive: {_printable(path)} is a device or FIFO", hint=_HINT)
            _check_new(path, seen, limits)
            if info.file_size > _RATIO_FLOOR and info.file_size / max(info.compress_size, 1) > limits.max_ratio:
                raise ArchiveError(
                    f"refused archive: {_printable(path)} has a compression ratio over {limits.max_ratio:.0f}:1 "
                    "(a decompression bomb?)",
                    hint=_HINT,
                )
            reason = _member_skip_reason(path, info.file_size, limits) or _zip_member_skip_reason(info)
            if reason:
                result.skipped.append((_printable(path), reason))
                continue
            _keep(result, path, _read_member(archive, info, budget, limits), limits)
    return result


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget, limits: ArchiveLimits) -> bytes:
    """At most max_file_bytes + 1 bytes of a member, in bounded pieces, each charged to the budget."""
    pieces: list[bytes] = []
    size = 0
    with archive.open(info) as member:
        while size <= limits.max_file_bytes and (piece := member.read(_PIECE)):
            budget.spend(len(piece))
            pieces.append(piece)
            size += len(piece)
    return b"".join(pieces)


def _zip_member_skip_reason(info: zipfile.ZipInfo) -> str | None:
    if info.flag_bits & 0x1:
        return "encrypted"
    if info.compress_type not in _READABLE_ZIP_METHODS:
        return "unsupported-compression"
    return None


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The member name; one that was not UTF-8 comes back with surrogate escapes (flag bit 11 unset)."""
    if info.flag_bits & 0x800 or info.filename.isascii():
        return info.filename
    return info.filename.encode("cp437").decode("utf-8", errors="surrogateescape")


def _safe_path(name: str) -> str:
    """The member's relative POSIX path; ArchiveError when it could escape the extraction root."""
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE.match(unified):
        raise ArchiveError(f"refused archive: member {_printable(name)!r} has an absolute path", hint=_HINT)
    parts = [part for part in unified.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"refused archive: member {_printable(name)!r} escapes the archive with '..'", hint=_HINT)
    return "/".join(parts)


def _check_new(path: str, seen: set[str], limits: ArchiveLimits) -> None:
    """Counts a regular file: refused past max_files, or when its path was already seen."""
    if path in seen:
        raise ArchiveError(f"refused archive: member {_printable(path)!r} appears more than once", hint=_HINT)
    seen.add(path)
    if len(seen) > limits.max_files:
        raise _too_many(limits)


def _too_many(limits: ArchiveLimits) -> ArchiveError:
    return ArchiveError(
        f"refused archive: more than {limits.max_files} files (the worker's SPARKCTL_MAX_FILES)",
        hint="Ingest a smaller part of the repository (--include/--exclude), or raise SPARKCTL_MAX_FILES on the "
        "worker.",
    )


def _too_big(limits: ArchiveLimits) -> ArchiveError:
    return ArchiveError(
        f"refused archive: more than {limits.max_total_bytes} bytes once decompressed "
        "(the worker's SPARKCTL_MAX_TOTAL_BYTES)",
        hint="Ingest a smaller part of the repository (--include/--exclude), or raise SPARKCTL_MAX_TOTAL_BYTES on "
        "the worker.",
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
