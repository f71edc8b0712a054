"""Packing a repository for `sparkctl ingest`: what goes in, what is left out and why, and reproducible bytes."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from sparkctl.errors import ConfigError, SparkctlError
from sparkctl.pack import PackProgress, PackResult, codebase_name, pack_directory, read_document, split_sources
from sparkctl.services.worker.archive import extract_archive

SOURCE = b"def main():\n    return 1\n"


def write(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def members(result: PackResult) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(result.read_bytes()), mode="r:gz") as archive:
        return archive.getmembers()


def test_source_files_are_packed_sorted_with_relative_posix_paths_and_normalised_metadata(tmp_path: Path) -> None:
    write(tmp_path, {"src/pkg/b.py": SOURCE, "src/pkg/a.py": SOURCE, "README.md": "# Demo\n", "z.toml": "a = 1\n"})
    os.chmod(tmp_path / "src/pkg/a.py", 0o755)
    with pack_directory(tmp_path) as result:
        assert result.files == ["README.md", "src/pkg/a.py", "src/pkg/b.py", "z.toml"]
        assert result.skipped == []
        packed = members(result)
    assert [member.name for member in packed] == result.files
    assert {(m.mtime, m.mode, m.uid, m.gid, m.uname, m.gname, m.type) for m in packed} == {
        (0, 0o644, 0, 0, "", "", tarfile.REGTYPE)
    }


def test_result_counts_raw_and_compressed_bytes_and_hashes_the_archive(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": SOURCE, "b.py": SOURCE * 3})
    with pack_directory(tmp_path) as result:
        data = result.read_bytes()
        assert result.raw_bytes == len(SOURCE) * 4
        assert result.compressed_bytes == len(data)
        assert result.sha256 == hashlib.sha256(data).hexdigest()
        assert result.archive.read() == data


def test_root_gitignore_is_honoured_and_ignored_folders_are_listed_once(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".gitignore": "*.log\n/secret.txt\ngenerated/\nlogs/\n!logs/keep.txt\n",
            "main.py": SOURCE,
            "debug.log": "x\n",
            "secret.txt": "s\n",
            "pkg/secret.txt": "not anchored here\n",
            "generated/a.py": SOURCE,
            "generated/b.py": SOURCE,
            "logs/keep.txt": "nothing inside an ignored folder comes back\n",
        },
    )
    with pack_directory(tmp_path) as result:
        assert result.files == [".gitignore", "main.py", "pkg/secret.txt"]
        assert result.skipped == [
            ("debug.log", "gitignored"),
            ("generated/", "gitignored"),
            ("logs/", "gitignored"),
            ("secret.txt", "gitignored"),
        ]


def test_nested_gitignore_is_relative_to_its_folder_and_can_negate_the_root(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".gitignore": "*.log\n",
            "app/.gitignore": "!keep.log\n/local.py\ncache/\n",
            "app/keep.log": "kept by the nested negation\n",
            "app/other.log": "x\n",
            "app/local.py": SOURCE,
            "app/sub/local.py": SOURCE,
            "app/cache/c.py": SOURCE,
            "local.py": SOURCE,
            "other/keep.log": "the negation does not reach here\n",
        },
    )
    with pack_directory(tmp_path) as result:
        assert result.files == [".gitignore", "app/.gitignore", "app/keep.log", "app/sub/local.py", "local.py"]
        assert result.skipped == [
            ("app/cache/", "gitignored"),
            ("app/local.py", "gitignored"),
            ("app/other.log", "gitignored"),
            ("other/keep.log", "gitignored"),
        ]


def test_git_info_exclude_is_honoured_and_invalid_gitignore_lines_are_passed_over(tmp_path: Path) -> None:
    write(tmp_path, {".git/info/exclude": "scratch.py\n", ".gitignore": "!\n*.tmp\n", "scratch.py": SOURCE})
    write(tmp_path, {"a.py": SOURCE, "b.tmp": "x\n"})
    with pack_directory(tmp_path) as result:
        assert result.files == [".gitignore", "a.py"]
        assert result.skipped == [
            (".git/", "vcs-or-dependency-dir"),
            ("b.tmp", "gitignored"),
            ("scratch.py", "gitignored"),
        ]


def test_vcs_and_dependency_folders_are_skipped_once_and_never_entered(tmp_path: Path) -> None:
    write(tmp_path, {f"node_modules/lib{i}/index.js": "module.exports = 1\n" for i in range(50)})
    write(tmp_path, {"web/node_modules/x.js": "x\n", "pkg.egg-info/PKG-INFO": "Name: pkg\n", "src/a.py": SOURCE})
    write(
        tmp_path, {".git/HEAD": "ref: refs/heads/main\n", ".venv/lib/site.py": SOURCE, "src/__pycache__/a.pyc": b"\0"}
    )
    events: list[PackProgress] = []
    with pack_directory(tmp_path, on_progress=events.append) as result:
        assert result.files == ["src/a.py"]
        assert result.skipped == [
            (".git/", "vcs-or-dependency-dir"),
            (".venv/", "vcs-or-dependency-dir"),
            ("node_modules/", "vcs-or-dependency-dir"),
            ("pkg.egg-info/", "vcs-or-dependency-dir"),
            ("src/__pycache__/", "vcs-or-dependency-dir"),
            ("web/node_modules/", "vcs-or-dependency-dir"),
        ]
    assert {event.path for event in events} == {"src/a.py"}


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside", {"passwd": "root:x:0:0\n", "dir/secret.py": SOURCE})
    repo = write(tmp_path / "repo", {"a.py": SOURCE})
    (repo / "passwd.py").symlink_to(outside / "passwd")
    (repo / "linked").symlink_to(outside / "dir", target_is_directory=True)
    (repo / "dangling.py").symlink_to(repo / "missing.py")
    with pack_directory(repo) as result:
        assert result.files == ["a.py"]
        assert result.skipped == [("dangling.py", "symlink"), ("linked", "symlink"), ("passwd.py", "symlink")]
        assert b"root:x" not in gzip.decompress(result.read_bytes())


def test_binary_too_large_and_minified_files_are_skipped_with_their_reason(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.py": SOURCE,
            "logo.png": b"\x89PNG\r\n\x1a\n\0\0\0",
            "huge.py": b"x = 1\n" * 200_000,
            "app.min.js": "var a=1;" * 500,
        },
    )
    with pack_directory(tmp_path) as result:
        assert result.files == ["a.py"]
        assert result.skipped == [("app.min.js", "minified"), ("huge.py", "too-large"), ("logo.png", "binary")]
        assert result.skipped_by_reason == {"binary": 1, "minified": 1, "too-large": 1}


def test_the_size_limit_can_be_lowered(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": SOURCE, "data.json": '{"k": 1}\n' * 200})
    with pack_directory(tmp_path, max_file_bytes=1000) as result:
        assert (result.files, result.skipped) == (["a.py"], [("data.json", "too-large")])


def test_files_with_names_that_are_not_utf8_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, {"ok.py": SOURCE})
    try:
        (Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9.py")))).write_bytes(SOURCE)
    except (OSError, UnicodeError):
        pytest.skip("this file system does not take names that are not UTF-8")
    with pack_directory(tmp_path) as result:
        assert result.files == ["ok.py"]
        assert result.skipped == [("caf\\udce9.py", "undecodable-name")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_is_skipped_instead_of_blocking(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": SOURCE})
    os.mkfifo(tmp_path / "pipe")
    with pack_directory(tmp_path) as result:
        assert (result.files, result.skipped) == (["a.py"], [("pipe", "not-regular")])


def test_include_restricts_to_matching_files(tmp_path: Path) -> None:
    write(
        tmp_path, {"src/a.py": SOURCE, "src/b.rs": "fn main() {}\n", "docs/guide.md": "# Guide\n", "setup.py": SOURCE}
    )
    with pack_directory(tmp_path, include=["src/**/*.py", "*.md"]) as result:
        assert result.files == ["docs/guide.md", "src/a.py"]
        assert result.skipped == [("setup.py", "not-included"), ("src/b.rs", "not-included")]


def test_exclude_skips_files_and_whole_folders_and_wins_over_include(tmp_path: Path) -> None:
    write(tmp_path, {"src/a.py": SOURCE, "src/a_test.py": SOURCE, "tests/t.py": SOURCE, "tests/u.py": SOURCE})
    with pack_directory(tmp_path, include=["*.py"], exclude=["tests/", "*_test.py"]) as result:
        assert result.files == ["src/a.py"]
        assert result.skipped == [("src/a_test.py", "excluded"), ("tests/", "excluded")]


def test_code_only_leaves_out_every_kind_of_document_and_keeps_the_code(tmp_path: Path) -> None:
    documents = {"README": "r\n", "README.md": "# r\n", "docs/a.rst": "a\n", "notes.txt": "n\n", "paper.pdf": "%PDF"}
    write(tmp_path, {**documents, "src/a.py": SOURCE, "Makefile": "all:\n", "src/b.rs": "fn main() {}\n"})
    with pack_directory(tmp_path, documents=False) as result:
        assert result.files == ["Makefile", "src/a.py", "src/b.rs"]
        assert result.skipped == sorted((path, "document") for path in documents)
    with pack_directory(tmp_path) as everything:
        assert set(documents) <= set(everything.files)


def test_code_only_of_a_folder_of_documents_says_they_were_left_out_as_asked(tmp_path: Path) -> None:
    write(tmp_path, {"guide.md": "# g\n", "faq.md": "# f\n"})
    with pytest.raises(SparkctlError) as caught:
        pack_directory(tmp_path, documents=False)
    assert caught.value.message == f"nothing to pack in {tmp_path}: every entry was left out (2 document)"
    assert "--code-only" in caught.value.hint


def test_invalid_pattern_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": SOURCE})
    with pytest.raises(ConfigError) as caught:
        pack_directory(tmp_path, exclude=["!"])
    assert caught.value.message == "invalid exclude pattern '!'"
    assert "gitignore patterns" in caught.value.hint


def test_the_same_tree_packs_to_the_same_bytes(tmp_path: Path) -> None:
    write(tmp_path, {f"pkg/m{i}.py": f"value = {i}\n" for i in range(30)})
    with pack_directory(tmp_path) as first:
        first_bytes = first.read_bytes()
    for path in (tmp_path / "pkg").iterdir():
        os.utime(path, (1_000_000, 1_000_000))
        os.chmod(path, 0o600)
    with pack_directory(tmp_path) as second:
        assert second.sha256 == first.sha256
        assert second.read_bytes() == first_bytes


def test_a_two_thousand_file_repository_packs_whole(tmp_path: Path) -> None:
    files = {f"pkg{i % 40}/mod{i}.py": f"def f{i}(x):\n    return x + {i}\n" for i in range(2000)}
    write(tmp_path, {**files, ".gitignore": "*.pyc\n", "pkg0/cache.pyc": b"\0\1"})
    events: list[PackProgress] = []
    with pack_directory(tmp_path, on_progress=events.append) as result:
        assert len(result.files) == 2001
        assert result.skipped == [("pkg0/cache.pyc", "gitignored")]
        assert result.raw_bytes == sum(len(content) for content in files.values()) + len("*.pyc\n")
    last = events[-1]
    assert (last.stage, last.files_seen, last.files_total, last.files_done, last.files_packed, last.bytes_packed) == (
        "packing",
        2002,
        2001,
        2001,
        2001,
        result.raw_bytes,
    )
    assert [event.stage for event in events].index("packing") == 2002


def test_pack_then_extract_gives_exactly_the_packed_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".gitignore": "dist/\n",
            "src/app/main.py": SOURCE,
            "src/app/ünïcode.py": "naïve = True\n",
            "docs/a.md": "# A\n",
            "dist/bundle.js": "x\n",
            "image.png": b"\x89PNG\0\0",
            f"deep/{'d/' * 60}leaf.py": SOURCE,
        },
    )
    with pack_directory(tmp_path) as result:
        extracted = extract_archive(result.read_bytes())
        assert [path for path, _ in extracted.files] == result.files
    assert extracted.skipped == []
    assert extracted.files == [(path, (tmp_path / path).read_bytes()) for path in result.files]
    assert "src/app/ünïcode.py" in result.files


def test_missing_root_is_an_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(SparkctlError) as caught:
        pack_directory(tmp_path / "nope")
    assert caught.value.message == f"{tmp_path / 'nope'} does not exist"
    assert caught.value.hint


def test_a_file_as_root_is_an_error_with_a_hint(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": SOURCE})
    with pytest.raises(SparkctlError) as caught:
        pack_directory(tmp_path / "a.py")
    assert caught.value.message == f"{tmp_path / 'a.py'} is not a folder"
    assert "not a file" in caught.value.hint


def test_an_empty_folder_has_nothing_to_pack(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SparkctlError) as caught:
        pack_directory(tmp_path)
    assert caught.value.message == f"nothing to pack in {tmp_path}: the folder holds no files"


def test_nothing_to_pack_says_what_was_left_out(tmp_path: Path) -> None:
    write(tmp_path, {".gitignore": "*\n", "a.py": SOURCE, "node_modules/x.js": "x\n"})
    with pytest.raises(SparkctlError) as caught:
        pack_directory(tmp_path)
    assert caught.value.message == (
        f"nothing to pack in {tmp_path}: every entry was left out (2 gitignored, 1 vcs-or-dependency-dir)"
    )
    assert ".gitignore" in caught.value.hint


def test_nothing_to_pack_through_include_points_at_the_patterns(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": SOURCE})
    with pytest.raises(SparkctlError) as caught:
        pack_directory(tmp_path, include=["*.rs"])
    assert caught.value.message == f"nothing to pack in {tmp_path}: every entry was left out (1 not-included)"
    assert caught.value.hint.startswith("Check the include patterns")


def test_sources_split_into_folders_and_files_in_the_order_given(tmp_path: Path) -> None:
    write(tmp_path, {"repo/a.py": SOURCE, "notes.md": "# n\n", "paper.pdf": b"%PDF-1.4"})
    paths = [tmp_path / "notes.md", tmp_path / "repo", tmp_path / "paper.pdf"]
    assert split_sources(paths) == ([tmp_path / "repo"], [tmp_path / "notes.md", tmp_path / "paper.pdf"])


def test_a_missing_source_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SparkctlError) as caught:
        split_sources([tmp_path, tmp_path / "gone.md"])
    assert caught.value.message == f"{tmp_path / 'gone.md'} does not exist"


def test_a_fifo_is_not_a_source(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(SparkctlError) as caught:
        split_sources([tmp_path / "pipe"])
    assert caught.value.message == f"{tmp_path / 'pipe'} is neither a folder nor a regular file"


def test_a_codebase_is_named_after_its_folder_even_when_given_as_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shop").mkdir()
    monkeypatch.chdir(tmp_path / "shop")
    assert codebase_name(Path(".")) == "shop"


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("guide.md", b"# Guide\n", "text/markdown"),
        ("paper.PDF", b"%PDF-1.7\n\0\1", "application/pdf"),
        ("notes.txt", b"plain\n", "text/plain"),
        ("main.rs", b"fn main() {}\n", "text/plain"),
        ("blob.rs", b"\0\1\2", "application/octet-stream"),
    ],
)
def test_a_document_keeps_its_name_and_content_and_gets_a_content_type(
    tmp_path: Path, name: str, data: bytes, content_type: str
) -> None:
    write(tmp_path, {f"docs/{name}": data})
    document = read_document(tmp_path / "docs" / name)
    assert (document.name, document.data, document.content_type) == (name, data, content_type)


def test_an_empty_document_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"empty.md": b""})
    with pytest.raises(SparkctlError) as caught:
        read_document(tmp_path / "empty.md")
    assert caught.value.message == f"{tmp_path / 'empty.md'} is empty"
