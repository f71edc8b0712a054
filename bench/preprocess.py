"""Preprocessor throughput: parse + extract + chunk + link over a real corpus, beside the raw tree-sitter
parse of the same files in the same run.

    python bench/preprocess.py [--runs 5] [--packages kubernetes pandas numpy lightrag] [--workers N]

The service parses a batch across processes (SPARKCTL_WORKERS, one per CPU by default); both the
single-process pipeline and the pooled one are shown against the single-process raw parse.

The corpus is the installed source of a few large packages (Python and any C/C++/JS files they ship).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from sparkctl.codebase import MAX_FILE_BYTES
from sparkctl.services.preprocessor.languages import language_of, parse_tree
from sparkctl.services.preprocessor.parse import custom_kg, link
from sparkctl.services.preprocessor.pool import ParserPool, parse_files
from sparkctl.services.preprocessor.settings import default_workers


def corpus(packages: list[str]) -> list[tuple[str, bytes]]:
    files = []
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(root.rglob("*")):
            if path.is_file() and language_of(path.name) and path.stat().st_size <= 1024 * 1024:
                files.append((f"{package}/{path.relative_to(root).as_posix()}", path.read_bytes()))
    return files


def raw_parse(files: list[tuple[str, bytes]]) -> None:
    for path, data in files:
        parse_tree(language_of(path) or "", data)


def full_pipeline(files: list[tuple[str, bytes]]) -> None:
    parsed = parse_files(files, MAX_FILE_BYTES)
    custom_kg(link([p for p in parsed if not p.skipped and not p.error]))


def pooled_pipeline(pool: ParserPool) -> Callable[[list[tuple[str, bytes]]], None]:
    """As the service answers /parse/batch: the files parsed across processes, then linked here."""

    def run(files: list[tuple[str, bytes]]) -> None:
        parsed = asyncio.run(pool.parse(files, MAX_FILE_BYTES))
        custom_kg(link([p for p in parsed if not p.skipped and not p.error]))

    return run


def median_seconds(step, files: list[tuple[str, bytes]], runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step(files)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=default_workers(), help="parser processes (as the service)")
    parser.add_argument("--packages", nargs="+", default=["kubernetes", "pandas", "numpy", "lightrag"])
    args = parser.parse_args()

    files = corpus(args.packages)
    megabytes = sum(len(data) for _, data in files) / 1e6
    raw_parse(files[:50])
    raw = median_seconds(raw_parse, files, args.runs)
    full = median_seconds(full_pipeline, files, args.runs)
    pool = ParserPool(args.workers)
    try:
        pooled_pipeline(pool)(files[: 50 * args.workers])
        pooled = median_seconds(pooled_pipeline(pool), files, args.runs)
    finally:
        pool.close()

    print(f"corpus: {len(files)} files, {megabytes:.1f} MB from {', '.join(args.packages)}; median of {args.runs} runs")
    print(f"{'step':<42} {'seconds':>8} {'files/s':>9} {'MB/s':>7} {'x raw throughput':>17}")
    rows = (
        ("raw tree-sitter parse (baseline)", raw),
        ("parse+extract+chunk+link+KG, 1 process", full),
        (f"the same, {args.workers} parser processes", pooled),
    )
    for name, seconds in rows:
        print(
            f"{name:<42} {seconds:>8.2f} {len(files) / seconds:>9.0f} {megabytes / seconds:>7.2f} "
            f"{raw / seconds:>17.2f}"
        )
    print("\ntarget: end-to-end throughput at least 0.50 x the raw parse")


if __name__ == "__main__":
    main()
