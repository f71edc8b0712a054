"""Safe extraction of uploaded archives: hostile or broken ones are refused with the reason."""

from __future__ import annotations

import io
import tarfile
import tracemalloc
import zipfile

import pytest

from sparkctl.errors import ArchiveError
from sparkctl.services.worker.archive import ArchiveLimits, archive_kind, extract_archive

SOURCE = b"def main():\n    return 1\n"


def tarball(members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zipped(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def refusal(data: bytes, limits: ArchiveLimits = ArchiveLimits()) -> str:
    with pytest.raises(ArchiveError) as caught:
        extract_archive(data, limits=limits)
    return caught.value.message


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_every_tar_flavour_round_trips(mode: str) -> None:
    extracted = extract_archive(tarball([("./pkg/a.py", SOURCE), ("pkg/b.md", b"# B\n")], mode))
    assert extracted.files == [("pkg/a.py", SOURCE), ("pkg/b.md", b"# B\n")]
    assert extracted.skipped == []


def test_zip_round_trips() -> None:
    assert extract_archive(zipped([("pkg/a.py", SOURCE)])).files == [("pkg/a.py", SOURCE)]


def test_zip_slip_is_refused() -> None:
    assert (
        refusal(zipped([("../../evil.py", SOURCE)]))
        == "refused archive: member '../../evil.py' escapes the archive with '..'"
    )


def test_backslash_traversal_in_zip_is_refused() -> None:
    assert "escapes the archive" in refusal(zipped([("..\\..\\evil.py", SOURCE)]))


@pytest.mark.parametrize("name", ["../outside.py", "pkg/../../outside.py"])
def test_tar_with_dot_dot_is_refused(name: str) -> None:
    assert "escapes the archive with '..'" in refusal(tarball([(name, SOURCE)]))


@pytest.mark.parametrize("name", ["/etc/cron.d/evil", "C:/Windows/evil.py"])
def test_absolute_paths_are_refused(name: str) -> None:
    assert refusal(tarball([(name, SOURCE)])) == f"refused archive: member {name!r} has an absolute path"


def test_symlink_to_etc_passwd_is_refused() -> None:
    link = tarfile.TarInfo("pkg/passwd.py")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    assert (
        refusal(tarball([link]))
        == "refused archive: pkg/passwd.py is a link (to '/etc/passwd'); links are not accepted"
    )


def test_hardlink_is_refused() -> None:
    link = tarfile.TarInfo("pkg/copy.py")
    link.type, link.linkname = tarfile.LNKTYPE, "pkg/a.py"
    assert "is a link" in refusal(tarball([("pkg/a.py", SOURCE), link]))


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_device_files_are_refused(kind: bytes) -> None:
    device = tarfile.TarInfo("pkg/dev")
    device.type = kind
    assert refusal(tarball([device])) == "refused archive: pkg/dev is a device or FIFO"


def test_zip_bomb_is_refused_without_inflating_it() -> None:
    bomb = zipped([("bomb.py", b"\0" * (50 * 1024 * 1024))])
    assert len(bomb) < 200_000
    tracemalloc.start()
    message = refusal(bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "compression ratio over 200:1" in message
    assert peak < 5 * 1024 * 1024


def test_zip_whose_header_lies_about_its_size_is_still_bounded() -> None:
    honest = zipped([("big.py", b"a = 1\n" * 400_000)])
    liar = bytearray(honest)
    for offset in (honest.find(b"PK\x03\x04") + 22, honest.find(b"PK\x01\x02") + 24):
        liar[offset : offset + 4] = (10).to_bytes(4, "little")
    with pytest.raises(ArchiveError) as caught:
        extract_archive(bytes(liar))
    assert caught.value.message.startswith(("corrupt archive", "refused archive"))


def test_tar_bomb_is_refused_while_streaming() -> None:
    bomb = tarball([(f"f{i}.py", b"\0" * (8 * 1024 * 1024)) for i in range(4)])
    tracemalloc.start()
    message = refusal(bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "compression ratio over 200:1" in message
    assert peak < 16 * 1024 * 1024


def test_total_size_over_the_limit_is_refused() -> None:
    data = tarball([(f"f{i}.py", bytes(range(256)) * 400) for i in range(10)], "w")
    assert refusal(data, ArchiveLimits(max_total_bytes=500_000)) == (
        "refused archive: more than 500000 bytes once decompressed"
    )


def test_ten_thousand_tiny_files_are_refused_over_the_file_limit_and_accepted_under_a_raised_one() -> None:
    many = tarball([(f"pkg/m{i}.py", b"x = 1\n") for i in range(10_000)])
    assert refusal(many) == "refused archive: more than 2000 files"
    assert len(extract_archive(many, limits=ArchiveLimits(max_files=10_000)).files) == 10_000


def test_corrupt_gzip_is_refused() -> None:
    data = bytearray(tarball([("a.py", SOURCE * 100)]))
    data[20:40] = b"\xff" * 20
    assert refusal(bytes(data)).startswith("corrupt archive:")


def test_truncated_tar_is_refused() -> None:
    data = tarball([("a.py", SOURCE * 1000)], "w")
    assert refusal(data[:1000]).startswith("corrupt archive:")


def test_non_utf8_file_name_is_skipped_with_a_reason() -> None:
    info = tarfile.TarInfo("pkg/caf\udce9.py")
    info.size = len(SOURCE)
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape"
    ) as archive:
        archive.addfile(info, io.BytesIO(SOURCE))
        ok = tarfile.TarInfo("pkg/ok.py")
        ok.size = len(SOURCE)
        archive.addfile(ok, io.BytesIO(SOURCE))
    extracted = extract_archive(buffer.getvalue())
    assert extracted.files == [("pkg/ok.py", SOURCE)]
    assert extracted.skipped == [("pkg/caf\\udce9.py", "undecodable-name")]


def test_binary_large_and_vendored_files_are_skipped_with_reasons() -> None:
    extracted = extract_archive(
        tarball(
            [
                ("pkg/a.py", SOURCE),
                ("pkg/logo.png", b"\x89PNG\r\n\x1a\n\0\0\0"),
                ("pkg/huge.py", b"x = 1\n" * 200_000),
                ("node_modules/lib/index.js", b"module.exports = 1\n"),
                ("pkg/app.min.js", b"var a=1;" * 500),
            ]
        )
    )
    assert extracted.files == [("pkg/a.py", SOURCE)]
    assert extracted.skipped == [
        ("pkg/logo.png", "binary"),
        ("pkg/huge.py", "too-large"),
        ("node_modules/lib/index.js", "vcs-or-dependency-dir"),
        ("pkg/app.min.js", "minified"),
    ]


def test_empty_archives_extract_to_nothing() -> None:
    assert extract_archive(tarball([])).files == []
    assert extract_archive(zipped([])).files == []


def test_unknown_format_is_named() -> None:
    assert refusal(b"hello world, not an archive").startswith("not an archive sparkctl can read (it starts with 68 65")
    assert archive_kind(zipped([])) == "zip"
