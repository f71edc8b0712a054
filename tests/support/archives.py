"""Builders of archives for the tests, hostile ones included: links, devices, lying zip headers, raw names."""

from __future__ import annotations

import io
import lzma
import stat
import tarfile
import zipfile
import zlib

TarMember = tarfile.TarInfo | tuple[str, bytes]


def tarball(members: list[TarMember], mode: str = "w:gz", *, tar_format: int = tarfile.PAX_FORMAT) -> bytes:
    """A tar with these members: (name, content) for regular files, or a TarInfo as given (links, devices)."""
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode=mode, format=tar_format, encoding="utf-8", errors="surrogateescape"
    ) as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_entry(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    """A tar member of a given type (tarfile.SYMTYPE, LNKTYPE, CHRTYPE, FIFOTYPE, DIRTYPE, ...)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def zipped(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_with_mode(name: str, data: bytes, mode: int) -> bytes:
    """A zip whose one member carries Unix file-type bits, e.g. stat.S_IFLNK | 0o777 for a symlink."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.create_system = 3
        info.external_attr = mode << 16
        archive.writestr(info, data)
    return buffer.getvalue()


def zip_symlink(name: str, target: str) -> bytes:
    return zip_with_mode(name, target.encode(), stat.S_IFLNK | 0o777)


def _patch_headers(archive: bytes, local: int, central: int, value: bytes) -> bytes:
    """Overwrite a field at the same offset in every local and central header."""
    patched = bytearray(archive)
    for signature, offset in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        start = patched.find(signature)
        while start >= 0:
            patched[start + offset : start + offset + len(value)] = value
            start = patched.find(signature, start + 4)
    return bytes(patched)


def zip_lying_about_size(name: str, data: bytes, declared: int, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A one-member zip whose headers declare `declared` uncompressed bytes instead of len(data)."""
    return _patch_headers(zipped([(name, data)], compression), 22, 24, declared.to_bytes(4, "little"))


def zip_marked_encrypted(name: str, data: bytes) -> bytes:
    """A one-member zip flagged as password-protected (general purpose bit 0)."""
    return _patch_headers(zipped([(name, data)], zipfile.ZIP_STORED), 6, 8, (1).to_bytes(2, "little"))


def zip_with_raw_name(raw: bytes, data: bytes) -> bytes:
    """A one-member zip named by raw bytes, without the UTF-8 flag (as old tools write cp437 or latin-1 names)."""
    placeholder = "n" * len(raw)
    return zipped([(placeholder, data)]).replace(placeholder.encode(), raw)


def zip_with_bad_crc(name: str, data: bytes) -> bytes:
    """A stored member whose content was altered after its CRC was written."""
    archive = bytearray(zipped([(name, data)], zipfile.ZIP_STORED))
    start = archive.find(data)
    archive[start] ^= 0xFF
    return bytes(archive)


def xz_asking_for_a_huge_dictionary(data: bytes) -> bytes:
    """An xz stream whose first block header claims a 4 GiB LZMA2 dictionary (its CRC made right again)."""
    stream = bytearray(lzma.compress(data, format=lzma.FORMAT_XZ))
    header_start = 12
    header_size = (stream[header_start] + 1) * 4
    filter_at = stream.index(b"\x21\x01", header_start + 2)
    stream[filter_at + 2] = 40
    crc_at = header_start + header_size - 4
    stream[crc_at : crc_at + 4] = zlib.crc32(stream[header_start:crc_at]).to_bytes(4, "little")
    return bytes(stream)
