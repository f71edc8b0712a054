"""How long `sparkctl --help` takes, beside a bare interpreter start, in the same run.

    python bench/cli_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def wall_times(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    script = Path(sys.executable).with_name("sparkctl")
    cases = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "sparkctl --help": [str(script), "--help"],
        "sparkctl models --help": [str(script), "models", "--help"],
        "sparkctl version": [str(script), "version"],
    }
    wall_times(cases["sparkctl --help"], 2)
    medians = {name: statistics.median(wall_times(argv, args.runs)) for name, argv in cases.items()}
    baseline = medians["python -c pass (baseline)"]

    print(f"{'command':<28} {'median ms':>10} {'above baseline ms':>18} {'x baseline':>11}")
    for name, median in medians.items():
        print(f"{name:<28} {median * 1000:>10.1f} {(median - baseline) * 1000:>18.1f} {median / baseline:>11.1f}")
    print(f"\n{args.runs} runs each; target: sparkctl --help at most 250 ms above the baseline.")


if __name__ == "__main__":
    main()
