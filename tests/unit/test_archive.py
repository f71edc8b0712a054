"""Safe extraction of uploaded archives: hostile or broken ones are refused with the reason, nothing is written."""

from __future__ import annotations

import bz2
import gzip
import lzma
import stat
import tarfile
import tempfile
import tracemalloc
import zipfile
from collections.abc import Callable

import pytest

from sparkctl.errors import ArchiveError
from sparkctl.services.worker.archive import ArchiveLimits, archive_kind, extract_archive
from support.archives import (
    tar_entry,
    tarball,
    xz_asking_for_a_huge_dictionary,
    zip_lying_about_size,
    zip_marked_encrypted,
    zip_symlink,
    zip_with_bad_crc,
    zip_with_mode,
    zip_with_raw_name,
    zipped,
)

SOURCE = b"def main():\n    return 1\n"
MiB = 1024 * 1024


def refusal(data: bytes, limits: ArchiveLimits = ArchiveLimits()) -> str:
    with pytest.raises(ArchiveError) as caught:
        extract_archive(data, limits=limits)
    assert caught.value.hint
    return caught.value.message


def peak_memory(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        action()
    except ArchiveError:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize(("mode", "kind"), [("w", "tar"), ("w:gz", "tar.gz"), ("w:bz2", "tar.bz2"), ("w:xz", "tar.xz")])
def test_every_tar_flavour_round_trips_and_loses_its_leading_dot_slash(mode: str, kind: str) -> None:
    data = tarball([tar_entry("./pkg", tarfile.DIRTYPE), ("./pkg/a.py", SOURCE), ("pkg/b.md", b"# B\n")], mode)
    assert archive_kind(data) == kind
    extracted = extract_archive(data)
    assert extracted.files == [("pkg/a.py", SOURCE), ("pkg/b.md", b"# B\n")]
    assert extracted.skipped == []


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_zip_round_trips(compression: int) -> None:
    data = zipped([("pkg/", b""), ("pkg/a.py", SOURCE), ("pkg\\win.py", b"x = 2\n")], compression)
    assert archive_kind(data) == "zip"
    assert extract_archive(data).files == [("pkg/a.py", SOURCE), ("pkg/win.py", b"x = 2\n")]


@pytest.mark.parametrize(
    "data",
    [
        tarball([("pkg/a.py", SOURCE), ("pkg/b.md", b"# B\n")], "w"),
        tarball([("pkg/a.py", SOURCE), ("pkg/b.md", b"# B\n")], "w:gz"),
        tarball([("pkg/a.py", SOURCE), ("pkg/b.md", b"# B\n")], "w:xz"),
        zipped([("pkg/a.py", SOURCE), ("pkg/b.md", b"# B\n")], zipfile.ZIP_DEFLATED),
        b"\0" * 10240,
    ],
    ids=["tar", "tar.gz", "tar.xz", "zip", "end-of-archive blocks only"],
)
@pytest.mark.parametrize("spool_bytes", [16, MiB], ids=["on disk", "in memory"])
def test_an_archive_spooled_to_a_file_extracts_as_its_bytes_do(data: bytes, spool_bytes: int) -> None:
    with tempfile.SpooledTemporaryFile(max_size=spool_bytes) as spooled:
        spooled.write(data)
        spooled.seek(0)
        from_file = extract_archive(spooled)
    assert (from_file.files, from_file.skipped) == (extract_archive(data).files, extract_archive(data).skipped)


def test_a_file_that_is_no_archive_is_refused_with_what_it_looks_like() -> None:
    with tempfile.TemporaryFile() as file:
        file.write(b"%PDF-1.7 not an archive")
        with pytest.raises(ArchiveError, match="it looks like a PDF document"):
            extract_archive(file)


def test_zip_slip_is_refused() -> None:
    assert refusal(zipped([("../../evil.py", SOURCE)])) == (
        "refused archive: member '../../evil.py' escapes the archive with '..'"
    )


def test_backslash_traversal_in_zip_is_refused() -> None:
    assert refusal(zipped([("..\\..\\evil.py", SOURCE)])) == (
        "refused archive: member '..\\\\..\\\\evil.py' escapes the archive with '..'"
    )


@pytest.mark.parametrize("name", ["../outside.py", "pkg/../../outside.py", "pkg/./../../outside.py"])
def test_tar_with_dot_dot_is_refused(name: str) -> None:
    assert refusal(tarball([(name, SOURCE)])) == f"refused archive: member {name!r} escapes the archive with '..'"


@pytest.mark.parametrize("name", ["/etc/cron.d/evil", "C:/Windows/evil.py", "c:evil.py"])
def test_tar_with_an_absolute_path_is_refused(name: str) -> None:
    assert refusal(tarball([(name, SOURCE)])) == f"refused archive: member {name!r} has an absolute path"


@pytest.mark.parametrize("name", ["/etc/passwd", "\\\\server\\share\\evil.py", "D:\\evil.py"])
def test_zip_with_an_absolute_path_is_refused(name: str) -> None:
    assert refusal(zipped([(name, SOURCE)])).endswith("has an absolute path")


def test_tar_symlink_to_etc_passwd_is_refused() -> None:
    link = tar_entry("pkg/passwd.py", tarfile.SYMTYPE, "/etc/passwd")
    assert refusal(tarball([link])) == (
        "refused archive: pkg/passwd.py is a link (to '/etc/passwd'); links are not accepted"
    )


def test_tar_hardlink_is_refused_even_inside_the_archive() -> None:
    link = tar_entry("pkg/copy.py", tarfile.LNKTYPE, "pkg/a.py")
    assert refusal(tarball([("pkg/a.py", SOURCE), link])) == (
        "refused archive: pkg/copy.py is a link (to 'pkg/a.py'); links are not accepted"
    )


def test_zip_symlink_is_refused() -> None:
    assert refusal(zip_symlink("pkg/passwd.py", "/etc/passwd")) == (
        "refused archive: pkg/passwd.py is a link; links are not accepted"
    )


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_tar_device_files_and_fifos_are_refused(kind: bytes) -> None:
    assert refusal(tarball([tar_entry("pkg/dev", kind)])) == "refused archive: pkg/dev is a device or FIFO"


def test_zip_device_file_is_refused() -> None:
    assert refusal(zip_with_mode("pkg/dev", b"", stat.S_IFCHR | 0o600)) == (
        "refused archive: pkg/dev is a device or FIFO"
    )


def test_zip_member_with_directory_mode_is_ignored() -> None:
    assert extract_archive(zip_with_mode("pkg", b"", stat.S_IFDIR | 0o755)).files == []


@pytest.mark.parametrize("second", ["pkg/a.py", "./pkg/a.py", "pkg//a.py"])
def test_two_members_naming_the_same_file_are_refused(second: str) -> None:
    assert refusal(tarball([("pkg/a.py", SOURCE), (second, b"evil()\n")])) == (
        "refused archive: member 'pkg/a.py' appears more than once"
    )


def test_zip_bomb_is_refused_from_its_declared_sizes_without_inflating_it() -> None:
    bomb = zipped([("bomb.py", b"\0" * (50 * MiB))])
    assert len(bomb) < 100_000
    assert refusal(bomb) == "refused archive: bomb.py has a compression ratio over 100:1 (a decompression bomb?)"
    assert peak_memory(lambda: extract_archive(bomb)) < 2 * MiB


def test_zip_bomb_whose_header_lies_about_its_size_is_read_only_up_to_the_declared_size() -> None:
    liar = zip_lying_about_size("bomb.py", b"\0" * (50 * MiB), declared=100)
    assert refusal(liar) == "corrupt archive: Bad CRC-32 for file 'bomb.py'"
    assert peak_memory(lambda: extract_archive(liar)) < 2 * MiB


def test_bzip2_zip_member_is_skipped_unread_because_its_inflation_cannot_be_bounded() -> None:
    liar = zip_lying_about_size("bomb.py", b"\0" * (8 * MiB), declared=100, compression=zipfile.ZIP_BZIP2)
    assert len(liar) < 1000
    peak = peak_memory(lambda: extract_archive(liar))
    assert extract_archive(liar).skipped == [("bomb.py", "unsupported-compression")]
    assert peak < 2 * MiB


@pytest.fixture(scope="module")
def tar_of_zeros() -> bytes:
    """32 MiB of zeros in four members: inflating it whole would be the failure."""
    return tarball([(f"f{i}.py", b"\0" * (8 * MiB)) for i in range(4)], "w")


@pytest.mark.parametrize(
    "compress",
    [gzip.compress, bz2.compress, lambda data: lzma.compress(data, preset=1)],
    ids=["gzip", "bzip2", "xz"],
)
def test_tar_bomb_is_refused_while_streaming(tar_of_zeros: bytes, compress: Callable[[bytes], bytes]) -> None:
    bomb = compress(tar_of_zeros)
    assert len(bomb) < 100_000
    assert refusal(bomb) == "refused archive: compression ratio over 100:1 (a decompression bomb?)"
    assert peak_memory(lambda: extract_archive(bomb)) < 8 * MiB


def test_xz_asking_for_a_huge_dictionary_is_refused_before_allocating_it() -> None:
    data = xz_asking_for_a_huge_dictionary(tarball([("a.py", SOURCE)], "w"))
    assert refusal(data) == "refused archive: its xz stream needs more than 128 MiB to decompress"
    assert peak_memory(lambda: extract_archive(data)) < 8 * MiB


def test_xz_at_the_strongest_preset_is_accepted() -> None:
    data = lzma.compress(tarball([("a.py", SOURCE)], "w"), preset=9 | lzma.PRESET_EXTREME)
    assert extract_archive(data).files == [("a.py", SOURCE)]


def test_concatenated_compressed_streams_read_as_one_tar() -> None:
    whole = tarball([("a.py", SOURCE), ("b.py", b"y = 2\n")], "w")
    for compress in (bz2.compress, lzma.compress):
        data = compress(whole[:512]) + compress(whole[512:])
        assert [path for path, _ in extract_archive(data).files] == ["a.py", "b.py"]


def test_total_size_over_the_limit_is_refused_naming_the_setting_to_raise() -> None:
    data = tarball([(f"f{i}.py", bytes(range(256)) * 400) for i in range(10)], "w")
    assert refusal(data, ArchiveLimits(max_total_bytes=500_000)) == (
        "refused archive: more than 500000 bytes once decompressed (the worker's SPARKCTL_MAX_TOTAL_BYTES)"
    )


def test_zip_declaring_more_than_the_total_limit_is_refused_before_reading() -> None:
    data = zipped([(f"f{i}.py", b"x = 1\n" * 20_000) for i in range(10)])
    assert refusal(data, ArchiveLimits(max_total_bytes=1_000_000)) == (
        "refused archive: more than 1000000 bytes once decompressed (the worker's SPARKCTL_MAX_TOTAL_BYTES)"
    )


def test_a_monorepo_of_three_thousand_files_is_accepted_with_the_defaults() -> None:
    many = tarball([(f"pkg/m{i}.py", b"x = 1\n") for i in range(3000)])
    assert len(extract_archive(many).files) == 3000


def test_the_defaults_hold_a_hundred_thousand_files_and_gigabytes() -> None:
    defaults = ArchiveLimits()
    assert defaults.max_files >= 100_000
    assert defaults.max_total_bytes >= 4 * 1024 * MiB
    assert defaults.max_ratio == 100


def test_one_file_over_the_file_limit_is_refused_naming_the_setting_to_raise() -> None:
    many = tarball([(f"pkg/m{i}.py", b"x = 1\n") for i in range(3001)])
    with pytest.raises(ArchiveError) as caught:
        extract_archive(many, limits=ArchiveLimits(max_files=3000))
    assert caught.value.message == "refused archive: more than 3000 files (the worker's SPARKCTL_MAX_FILES)"
    assert "SPARKCTL_MAX_FILES" in (caught.value.hint or "")


def test_zip_with_too_many_files_is_refused_from_its_directory() -> None:
    assert refusal(zipped([(f"m{i}.py", b"x = 1\n") for i in range(11)]), ArchiveLimits(max_files=10)) == (
        "refused archive: more than 10 files (the worker's SPARKCTL_MAX_FILES)"
    )


def test_files_in_skipped_folders_still_count_towards_the_file_limit() -> None:
    data = tarball([(f"node_modules/m{i}.js", b"x\n") for i in range(11)])
    assert refusal(data, ArchiveLimits(max_files=10)) == (
        "refused archive: more than 10 files (the worker's SPARKCTL_MAX_FILES)"
    )


def test_corrupt_gzip_is_refused() -> None:
    data = bytearray(tarball([("a.py", SOURCE * 100)]))
    data[20:40] = b"\xff" * 20
    assert refusal(bytes(data)).startswith("corrupt archive: ")


def test_truncated_tar_gz_is_refused() -> None:
    data = tarball([(f"m{i}.py", f"v = {i}\n".encode() * 500) for i in range(20)])
    assert refusal(data[: len(data) // 2]) == (
        "corrupt archive: Compressed file ended before the end-of-stream marker was reached"
    )


def test_tar_truncated_inside_a_member_is_refused() -> None:
    data = tarball([("a.py", SOURCE * 1000)], "w")
    assert refusal(data[:1000]) == "corrupt archive: unexpected end of data"


def test_tar_truncated_inside_a_member_that_is_skipped_is_refused() -> None:
    data = tarball([("node_modules/a.js", SOURCE * 1000)], "w")
    assert refusal(data[:3000]) == "corrupt archive: unexpected end of data"


def test_tar_truncated_between_members_is_refused() -> None:
    data = tarball([("a.py", SOURCE), ("b.py", SOURCE)], "w")
    assert refusal(data[:1024]).startswith("corrupt archive: truncated tar, it ends inside or before a header")


def test_tar_with_a_broken_second_header_is_refused_instead_of_ending_early() -> None:
    data = bytearray(tarball([("a.py", SOURCE), ("b.py", SOURCE)], "w"))
    data[1024 + 148 : 1024 + 156] = b"0000000\0"
    assert refusal(bytes(data)) == "corrupt archive: broken tar header at byte 1024 (bad checksum)"


def test_gzip_of_something_that_is_not_a_tar_is_refused() -> None:
    assert refusal(gzip.compress(b"just some text, not a tar\n" * 40)) == "corrupt archive: invalid header"


def test_zip_with_a_bad_crc_is_refused() -> None:
    assert refusal(zip_with_bad_crc("a.py", SOURCE)) == "corrupt archive: Bad CRC-32 for file 'a.py'"


def test_non_utf8_file_name_in_a_tar_is_skipped_with_its_bytes_escaped() -> None:
    data = tarball([("pkg/caf\udce9.py", SOURCE), ("pkg/ok.py", SOURCE)], "w", tar_format=tarfile.GNU_FORMAT)
    extracted = extract_archive(data)
    assert extracted.files == [("pkg/ok.py", SOURCE)]
    assert extracted.skipped == [("pkg/caf\\udce9.py", "undecodable-name")]


def test_non_utf8_file_name_in_a_zip_is_skipped_and_a_utf8_one_without_the_flag_is_kept() -> None:
    assert extract_archive(zip_with_raw_name(b"caf\xe9.py", SOURCE)).skipped == [("caf\\udce9.py", "undecodable-name")]
    assert extract_archive(zip_with_raw_name("café.py".encode(), SOURCE)).files == [("café.py", SOURCE)]


def test_binary_large_minified_and_vendored_files_are_skipped_with_reasons() -> None:
    extracted = extract_archive(
        tarball(
            [
                ("pkg/a.py", SOURCE),
                ("pkg/logo.png", b"\x89PNG\r\n\x1a\n\0\0\0"),
                ("pkg/huge.py", b"x = 1\n" * 200_000),
                ("node_modules/lib/index.js", b"module.exports = 1\n"),
                ("src/pkg.egg-info/PKG-INFO", b"Name: pkg\n"),
                ("pkg/app.min.js", b"var a=1;" * 500),
            ]
        )
    )
    assert extracted.files == [("pkg/a.py", SOURCE)]
    assert extracted.skipped == [
        ("pkg/logo.png", "binary"),
        ("pkg/huge.py", "too-large"),
        ("node_modules/lib/index.js", "vcs-or-dependency-dir"),
        ("src/pkg.egg-info/PKG-INFO", "vcs-or-dependency-dir"),
        ("pkg/app.min.js", "minified"),
    ]


def test_zip_member_over_the_file_limit_is_skipped_unread() -> None:
    data = zipped([("big.py", b"x = 1\n" * 1000), ("a.py", SOURCE)])
    extracted = extract_archive(data, limits=ArchiveLimits(max_file_bytes=1000))
    assert extracted.files == [("a.py", SOURCE)]
    assert extracted.skipped == [("big.py", "too-large")]


def test_encrypted_zip_member_is_skipped() -> None:
    assert extract_archive(zip_marked_encrypted("secret.py", SOURCE)).skipped == [("secret.py", "encrypted")]


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_empty_tar_extracts_to_nothing(mode: str) -> None:
    extracted = extract_archive(tarball([], mode))
    assert (extracted.files, extracted.skipped) == ([], [])


def test_empty_zip_extracts_to_nothing() -> None:
    extracted = extract_archive(zipped([]))
    assert (extracted.files, extracted.skipped) == ([], [])


def test_tar_of_only_folders_extracts_to_nothing() -> None:
    assert extract_archive(tarball([tar_entry(f"d{i}", tarfile.DIRTYPE) for i in range(3000)])).files == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an archive sparkctl can read: the upload is empty"),
        (
            b"7z\xbc\xaf\x27\x1c\x00\x04rest",
            "not an archive sparkctl can read: it looks like a 7z archive (starts with 37 7a bc af 27 1c 00 04)",
        ),
        (
            b"Rar!\x1a\x07\x01\x00rest",
            "not an archive sparkctl can read: it looks like a RAR archive (starts with 52 61 72 21 1a 07 01 00)",
        ),
        (
            b"hello world, not an archive",
            "not an archive sparkctl can read: it looks like text (starts with 68 65 6c 6c 6f 20 77 6f)",
        ),
        (b"\x00\x01\x02\xff\xfe", "not an archive sparkctl can read: unknown binary data (starts with 00 01 02 ff fe)"),
    ],
)
def test_unknown_format_is_refused_naming_what_it_looks_like(data: bytes, message: str) -> None:
    assert refusal(data) == message


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        ArchiveLimits(max_files=0)


def test_the_settings_a_refusal_names_are_the_workers_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from sparkctl.services.worker.settings import WorkerSettings

    monkeypatch.setenv("SPARKCTL_MAX_FILES", "3000")
    monkeypatch.setenv("SPARKCTL_MAX_TOTAL_BYTES", "500000")
    settings = WorkerSettings(database_url="postgresql://u@127.0.0.1/db")
    assert (settings.max_files, settings.max_total_bytes) == (3000, 500_000)


def test_the_workers_defaults_are_the_archive_defaults() -> None:
    from sparkctl.services.worker.settings import WorkerSettings

    settings = WorkerSettings(database_url="postgresql://u@127.0.0.1/db")
    assert (settings.max_files, settings.max_file_bytes, settings.max_total_bytes) == (
        ArchiveLimits().max_files,
        ArchiveLimits().max_file_bytes,
        ArchiveLimits().max_total_bytes,
    )
