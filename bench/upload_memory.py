"""Upload memory: the orchestrator's RSS while three large uploads arrive at once, and what they cost a chat.

    python bench/upload_memory.py [--uploads 3] [--mb 200] [--idle-chats 40]

The orchestrator runs in its own process as `sparkctl local up` runs it, on embedded PostgreSQL, Redis
and NATS, with the deterministic LLM test double of tests/support as its model server (working and
recall memory on, the hash embedder; no LightRAG, no worker: the jobs stay queued). The uploads are
files of random bytes generated on disk, each sent by its own process with httpx streaming the file.
Meanwhile rounds of three requests are timed, one after the other: a chat through the orchestrator, the
orchestrator's /health (its event loop alone) and a chat straight to the LLM double (what the machine's
load costs any process); the idle baseline is the same rounds before any upload. RSS is sampled every
20 ms from /proc; the peak is the process's VmHWM.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx

from sparkctl.local.process import free_port
from sparkctl.local.servers import nats, postgres, redis
from sparkctl.local.services import service_process
from sparkctl.local.stack import StackOptions, service_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.asgi import serving
from support.fake_llm import FakeLLM, build_app

MiB = 1024 * 1024
CHAT = {"model": "qwen", "messages": [{"role": "user", "content": "What does the ingest worker do?"}]}
HEADERS = {"X-Session-Id": "bench", "X-Workspace": "bench"}


def make_file(path: Path, size_mb: int) -> Path:
    with path.open("wb") as out:
        for _ in range(size_mb):
            out.write(os.urandom(MiB))
    return path


def upload(url: str, path: str) -> tuple[int, float]:
    """(status, seconds) of one codebase upload, the file streamed from disk."""
    started = time.perf_counter()
    with open(path, "rb") as handle, httpx.Client(timeout=600) as http:
        response = http.post(
            f"{url}/v1/codebase/ingest",
            files={"file": (Path(path).name, handle, "application/gzip")},
            headers={"X-Workspace": "bench"},
        )
    return response.status_code, time.perf_counter() - started


def proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def chat_ms(http: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    response = http.post(f"{url}/v1/chat/completions", json=CHAT, headers=HEADERS)
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000


def health_ms(http: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    http.get(f"{url}/health").raise_for_status()
    return (time.perf_counter() - started) * 1000


def timed_round(http: httpx.Client, orchestrator: str, llm: str) -> tuple[float, float, float]:
    """ms of a chat through the orchestrator, of its /health (its event loop alone) and of a chat straight
    to the LLM double (what the machine's load costs any process)."""
    return chat_ms(http, orchestrator), health_ms(http, orchestrator), chat_ms(http, llm)


def figures(times: list[float]) -> tuple[float, float, float]:
    """median, p95, max"""
    p95 = statistics.quantiles(times, n=20)[18] if len(times) > 1 else times[0]
    return statistics.median(times), p95, max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", type=int, default=3)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--idle-chats", type=int, default=40)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="sparkctl-bench-"))
    data_dir.chmod(0o755)
    files = [make_file(data_dir / f"upload-{n}.tar.gz", args.mb) for n in range(args.uploads)]
    servers = [
        postgres(data_dir, free_port(), durable=False),
        redis(data_dir, free_port(), durable=False),
        nats(data_dir, free_port()),
    ]
    fake = FakeLLM()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = []
    try:
        with serving(build_app(fake), fake.port, lifespan="off"):
            for server in servers:
                server.process.start()
                started.append(server.process)
            database, cache, queue = (server.url for server in servers)
            options = StackOptions(data_dir=data_dir, port=port, llm_url=fake.url, embedder="hash")
            ports: dict[str, int | None] = {"lightrag": free_port(), "preprocessor": None, "orchestrator": port}
            env = service_env(options, {"postgres": database, "redis": cache, "nats": queue}, ports)["orchestrator"]
            env |= {
                "SPARKCTL_LOG_LEVEL": "warning",
                "SPARKCTL_MEMORY_TIERS": '["working", "recall"]',
                "SPARKCTL_PROMOTE_AFTER_TURNS": "100000",
            }
            orchestrator = service_process("orchestrator", port=port, env=env, log_dir=data_dir / "logs")
            orchestrator.start()
            started.append(orchestrator)
            pid = orchestrator.pid
            assert pid is not None

            with httpx.Client(timeout=120) as http:
                for _ in range(5):
                    timed_round(http, url, fake.url)
                idle = [timed_round(http, url, fake.url) for _ in range(args.idle_chats)]
                rss_before = proc_kb(pid, "VmRSS")

                samples: list[int] = []
                done = threading.Event()

                def sample() -> None:
                    while not done.is_set():
                        samples.append(proc_kb(pid, "VmRSS"))
                        time.sleep(0.02)

                sampler = threading.Thread(target=sample, daemon=True)
                busy: list[tuple[float, float, float]] = []
                with ProcessPoolExecutor(args.uploads, mp_context=multiprocessing.get_context("spawn")) as pool:
                    for warm in [pool.submit(time.sleep, 0.5) for _ in files]:
                        warm.result()
                    sampler.start()
                    began = time.perf_counter()
                    futures = [pool.submit(upload, url, str(path)) for path in files]
                    while not all(future.done() for future in futures):
                        busy.append(timed_round(http, url, fake.url))
                    results = [future.result() for future in futures]
                wall = time.perf_counter() - began
                done.set()
                sampler.join()
                time.sleep(2.0)
                rss_after = proc_kb(pid, "VmRSS")
                peak = proc_kb(pid, "VmHWM")

        statuses = ", ".join(str(status) for status, _ in results)
        seconds = ", ".join(f"{elapsed:.1f}" for _, elapsed in results)
        print(f"{args.uploads} concurrent uploads of {args.mb} MB (random bytes, streamed from disk by httpx)")
        print(f"upload statuses: {statuses}; seconds each: {seconds}; all done in {wall:.1f} s")
        print(f"{'orchestrator RSS':<40} {'MB':>8}")
        print(f"{'  before the uploads':<40} {rss_before / 1024:>8.0f}")
        print(f"{'  peak (VmHWM)':<40} {peak / 1024:>8.0f}")
        print(f"{'  highest sample during the uploads':<40} {max(samples, default=0) / 1024:>8.0f}")
        print(f"{'  2 s after the uploads':<40} {rss_after / 1024:>8.0f}")
        print(f"{'latency, ms':<40} {'idle':>8} {'uploads':>8} {'ratio':>7}")
        print(f"{'  rounds timed':<40} {len(idle):>8} {len(busy):>8}")
        for column, label in ((0, "chat via orchestrator"), (1, "orchestrator /health"), (2, "chat direct to LLM")):
            calm = figures([pair[column] for pair in idle])
            loaded = figures([pair[column] for pair in busy]) if busy else (float("nan"),) * 3
            for name, before, during in zip(("median", "p95", "max"), calm, loaded, strict=True):
                row = f"  {label} {name}"
                print(f"{row:<40} {before:>8.1f} {during:>8.1f} {during / before:>6.2f}x")
        print("targets: peak RSS < 400 MB; the orchestrator's median during uploads close to idle")
    finally:
        for process in reversed(started):
            process.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
