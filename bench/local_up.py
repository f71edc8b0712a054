"""How long `sparkctl local up --detach` takes to return, that is until PostgreSQL, Redis, NATS and the four
services all answer: once cold (an empty data directory, so initdb runs) and then warm (the same data
directory again), each run followed by an untimed `sparkctl local down`.

    python bench/local_up.py [--runs 3]

Baseline, in the same process: a bare interpreter start (`python -c pass`). The stack runs with the hash
embedder, in a temporary data directory, on a free port, with its own HOME and XDG directories.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sparkctl.local.process import free_port

TARGET_SECONDS = 20.0


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="warm runs (the cold one comes first)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="sparkctl-bench-local-"))
    env = {
        **os.environ,
        "HOME": str(root / "home"),
        "XDG_STATE_HOME": str(root / "state"),
        "XDG_DATA_HOME": str(root / "share"),
        "XDG_CONFIG_HOME": str(root / "config"),
    }
    sparkctl = [sys.executable, "-m", "sparkctl"]
    up = [*sparkctl, "local", "up", "--detach", "--embedder", "hash", "--data-dir", str(root / "data")]
    up += ["--llm-url", f"http://127.0.0.1:{free_port()}"]
    down = [*sparkctl, "local", "down"]
    try:
        baseline = statistics.median(timed([sys.executable, "-c", "pass"], env) for _ in range(5))
        cold = timed([*up, "--port", str(free_port())], env)
        downs = [timed(down, env)]
        warm = []
        for _ in range(args.runs):
            warm.append(timed([*up, "--port", str(free_port())], env))
            downs.append(timed(down, env))
    finally:
        subprocess.run(down, env=env, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)

    median = statistics.median(warm)
    rows = [
        ("python -c pass (baseline)", baseline),
        ("up --detach, cold (initdb)", cold),
        (f"up --detach, warm (median of {args.runs})", median),
        (f"down (median of {len(downs)}, not part of up)", statistics.median(downs)),
    ]
    print(f"{'step':<44} {'seconds':>8} {'x baseline':>11}")
    for name, seconds in rows:
        print(f"{name:<44} {seconds:>8.2f} {seconds / baseline:>11.1f}")
    print(f"warm runs: {', '.join(f'{t:.2f}' for t in warm)} s; cores: {os.cpu_count()}")
    print(f"target: ready in under {TARGET_SECONDS:.0f} s (cold and warm)")


if __name__ == "__main__":
    main()
