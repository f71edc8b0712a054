"""Packing a repository for `sparkctl ingest`: pack_directory on a generated tree of source files, beside a plain
tar.gz of the same tree without any filtering, in the same process.

    python bench/pack.py [--files 2000] [--runs 5] [--file-bytes 3000]

The tree has nested folders, a root .gitignore and nested ones, and some ignored files and folders on top of
`--files` source files; the baseline walks every file and tars it at the same gzip level.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sparkctl.pack import pack_directory

_GZIP_LEVEL = 6


def generate(root: Path, files: int, file_bytes: int) -> None:
    """`files` source files in folders of 20, a root and per-package .gitignore, and ignored noise."""
    (root / ".gitignore").write_text("*.log\n/dist/\n__generated__/\n!keep.log\n")
    for index in range(files):
        package = root / "src" / f"pkg{index // 200:02}" / f"mod{index // 20 % 10}"
        package.mkdir(parents=True, exist_ok=True)
        body = f"def function_{index}(value):\n    return value + {index}\n\n"
        (package / f"file{index:05}.py").write_text(body * max(1, file_bytes // len(body)))
        if index % 20 == 0:
            (package / ".gitignore").write_text("*.tmp\n")
            (package / "scratch.tmp").write_text("scratch\n")
            (package / "run.log").write_text("log line\n" * 50)
    (root / "dist").mkdir()
    (root / "dist" / "bundle.js").write_text("var x = 1;\n" * 100)
    (root / "node_modules" / "left-pad").mkdir(parents=True)
    (root / "node_modules" / "left-pad" / "index.js").write_text("module.exports = 1;\n")


def plain_tarball(root: Path) -> int:
    """Every file under root, unfiltered, as tar.gz in memory; the archive's size."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=_GZIP_LEVEL) as archive:
        for folder, _, names in sorted(os.walk(root)):
            for name in sorted(names):
                path = Path(folder, name)
                archive.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
    return buffer.tell()


def sparkctl_pack(root: Path) -> int:
    with pack_directory(root) as result:
        return result.compressed_bytes


def timed(action: Callable[[Path], int], root: Path, runs: int) -> tuple[float, int]:
    """(median seconds, archive bytes) over `runs` runs, after one warm-up run."""
    size = action(root)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action(root)
        times.append(time.perf_counter() - start)
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--file-bytes", type=int, default=3000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        generate(root, args.files, args.file_bytes)
        on_disk = sum(1 for _, _, names in os.walk(root) for _ in names)
        with pack_directory(root) as result:
            packed, left_out = len(result.files), len(result.skipped)
        cases = {
            "tarfile, no filtering (baseline)": (on_disk, timed(plain_tarball, root, args.runs)),
            "pack_directory (.gitignore etc.)": (packed, timed(sparkctl_pack, root, args.runs)),
        }

    baseline = cases["tarfile, no filtering (baseline)"][1][0]
    print(f"{'packer':<34} {'files':>6} {'median ms':>10} {'archive KiB':>12} {'x baseline':>11}")
    for name, (count, (median, size)) in cases.items():
        print(f"{name:<34} {count:>6} {median * 1000:>10.1f} {size / 1024:>12.1f} {median / baseline:>11.2f}")
    print(f"\n{on_disk} files on disk, {packed} packed, {left_out} entries left out; median of {args.runs} runs.")


if __name__ == "__main__":
    main()
