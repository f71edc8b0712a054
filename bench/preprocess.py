"""Preprocessor throughput: parse + extract + chunk + link over a real corpus, beside the raw tree-sitter
parse of the same files in the same run.

    python bench/preprocess.py [--runs 5] [--packages kubernetes pandas numpy lightrag]

The corpus is the installed source of a few large packages (Python and any C/C++/JS files they ship).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

from sparkctl.services.preprocessor.languages import language_of, parse_tree
from sparkctl.services.preprocessor.parse import custom_kg, link, parse_file


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
    parsed = [parse_file(path, data) for path, data in files]
    custom_kg(link([p for p in parsed if not p.skipped and not p.error]))


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
    parser.add_argument("--packages", nargs="+", default=["kubernetes", "pandas", "numpy", "lightrag"])
    args = parser.parse_args()

    files = corpus(args.packages)
    megabytes = sum(len(data) for _, data in files) / 1e6
    raw_parse(files[:50])
    raw = median_seconds(raw_parse, files, args.runs)
    full = median_seconds(full_pipeline, files, args.runs)

    print(f"corpus: {len(files)} files, {megabytes:.1f} MB from {', '.join(args.packages)}; median of {args.runs} runs")
    print(f"{'step':<36} {'seconds':>8} {'files/s':>9} {'MB/s':>7} {'x raw throughput':>17}")
    for name, seconds in (("raw tree-sitter parse (baseline)", raw), ("parse+extract+chunk+link+KG", full)):
        print(
            f"{name:<36} {seconds:>8.2f} {len(files) / seconds:>9.0f} {megabytes / seconds:>7.2f} "
            f"{raw / seconds:>17.2f}"
        )
    print("\ntarget: end-to-end throughput at least 0.50 x the raw parse")


if __name__ == "__main__":
    main()
