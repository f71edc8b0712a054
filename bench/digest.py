"""Digest wall time: commits across several git repositories through `sparkctl digest run`, the orchestrator,
NATS, the worker, PostgreSQL and LightRAG (each a separate process, as `sparkctl local up` runs them), against a
stand-in model server that answers every chat request after a fixed latency and counts them.

    python bench/digest.py [--repositories 5] [--commits 200] [--latency-ms 200]

Baseline, in the same process: the same run again, whose commits are all summarised already.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from sparkctl.local.plan import WORKER_READY_LINE
from sparkctl.local.process import ManagedProcess, ProcessSpec, free_port
from sparkctl.local.servers import nats, postgres, redis
from sparkctl.local.services import http_ready, service_process
from sparkctl.local.stack import StackOptions, service_env

DAY = "2026-11-26"
KEY = "bench-key"


def serve_backend(port: int, latency: float) -> None:
    """The stand-in model server: OpenAI chat completions after `latency` seconds; GET /stats counts them."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    calls = {"chat": 0}

    async def chat(request: Request) -> Response:
        body = await request.json()
        calls["chat"] += 1
        await asyncio.sleep(latency)
        message = {"role": "assistant", "content": "Changed the parser so that it reads numbers; tests follow."}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        usage = {"prompt_tokens": 100, "completion_tokens": 12, "total_tokens": 112}
        answer = {"id": "bench", "object": "chat.completion", "model": body.get("model"), "choices": [choice]}
        return JSONResponse(answer | {"usage": usage})

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "bench", "object": "model"}]})

    async def stats(request: Request) -> Response:
        return JSONResponse(calls)

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models),
            Route("/health", stats),
            Route("/stats", stats),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def make_repository(path: Path, commits: int) -> None:
    """`commits` commits by three authors over one day, each changing one file."""
    path.mkdir(parents=True)
    git = ["git", "-C", str(path)]
    subprocess.run([*git, "init", "--quiet", "--initial-branch=main"], check=True)
    authors = [("Ada", "ada@example.org"), ("Grace", "grace@example.org"), ("Linus", "linus@example.org")]
    for index in range(commits):
        (path / f"module_{index % 40}.py").write_text(f"VALUE_{index} = {index}\n" * (1 + index % 7))
        name, email = authors[index % len(authors)]
        moment = f"{DAY}T{index * 86000 // commits // 3600:02d}:{index * 86000 // commits % 3600 // 60:02d}:00+00:00"
        env = os.environ | {
            "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email, "GIT_AUTHOR_DATE": moment, "GIT_COMMITTER_DATE": moment,
        }  # fmt: skip
        subprocess.run([*git, "add", "--all"], check=True, env=env)
        subprocess.run([*git, "commit", "--quiet", "-m", f"Change {index}"], check=True, env=env)


def backend_process(port: int, latency_ms: float, log_dir: Path) -> ManagedProcess:
    argv = [sys.executable, __file__, "--serve-backend", str(port), "--latency-ms", str(latency_ms)]
    spec = ProcessSpec(
        name="backend", argv=argv, port=port, log_path=log_dir / "backend.log", ready=lambda: http_ready(port)
    )
    return ManagedProcess(spec)


def digest_run(repositories: list[Path], endpoint: str) -> float:
    env = os.environ | {"SPARKCTL_ENDPOINT": endpoint, "SPARKCTL_API_KEY": KEY}
    argv = [sys.executable, "-m", "sparkctl", "-o", "json", "digest", "run", *map(str, repositories)]
    argv += ["--since", f"{DAY}T00:00:00+00:00", "--until", "2026-11-27T00:00:00+00:00"]
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"digest run failed: {done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repositories", type=int, default=5)
    parser.add_argument("--commits", type=int, default=200, help="per repository")
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--serve-backend", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_backend:
        serve_backend(args.serve_backend, args.latency_ms / 1000)
        return

    data_dir = Path(tempfile.mkdtemp(prefix="sparkctl-bench-"))
    data_dir.chmod(0o755)
    logs = data_dir / "logs"
    repositories = [data_dir / "repos" / f"repo{index}" for index in range(args.repositories)]
    started = time.perf_counter()
    for path in repositories:
        make_repository(path, args.commits)
    made = time.perf_counter() - started

    servers = [postgres(data_dir, free_port(), durable=False), redis(data_dir, free_port(), durable=False),
               nats(data_dir, free_port())]  # fmt: skip
    names = ("backend", "lightrag", "preprocessor", "orchestrator")
    ports: dict[str, int | None] = {name: free_port() for name in names}
    backend = f"http://127.0.0.1:{ports['backend']}"
    running: list[ManagedProcess] = []
    try:
        for server in servers:
            server.process.start()
            running.append(server.process)
        urls = {name: server.url for name, server in zip(("postgres", "redis", "nats"), servers, strict=True)}
        options = StackOptions(data_dir=data_dir, llm_url=f"{backend}/v1", embedder="hash", api_key=KEY)
        service_ports = {**ports, "worker": None}
        env = service_env(options, urls, service_ports)
        quiet = {"SPARKCTL_LOG_LEVEL": "warning"}
        processes = [backend_process(ports["backend"] or 0, args.latency_ms, logs)]
        for name in ("lightrag", "preprocessor", "orchestrator", "worker"):
            extra = {"SPARKCTL_PROSE_MODE": "chunks"} if name == "lightrag" else {}
            settings = env[name] | extra | ({} if name == "worker" else quiet)
            ready = WORKER_READY_LINE if name == "worker" else None
            port = service_ports[name]
            processes.append(service_process(name, port=port, env=settings, log_dir=logs, ready_line=ready))
        for process in processes:
            process.start()
            running.append(process)
        endpoint = f"http://127.0.0.1:{ports['orchestrator']}"

        first = digest_run(repositories, endpoint)
        calls_first = httpx.get(f"{backend}/stats").json()["chat"]
        again = digest_run(repositories, endpoint)
        calls_again = httpx.get(f"{backend}/stats").json()["chat"] - calls_first
    finally:
        for process in reversed(running):
            process.stop()

    commits = args.repositories * args.commits
    print(f"{args.repositories} repositories x {args.commits} commits in a day; model latency {args.latency_ms:.0f} ms")
    print(f"(the repositories took {made:.1f} s to make)")
    print(f"{'run':<34} {'wall s':>8} {'model calls':>12} {'calls/commit':>13} {'x baseline':>11}")
    rows: list[tuple[str, float, int, Any]] = [
        ("second run (all summarised)", again, calls_again, None),
        ("first run", first, calls_first, first / again if again else None),
    ]
    for name, wall, calls, ratio in rows:
        ratio_text = f"{ratio:>11.1f}" if ratio else f"{'1.0':>11}"
        print(f"{name:<34} {wall:>8.1f} {calls:>12} {calls / commits:>13.3f} {ratio_text}")
    print(f"target: first run <= 900 s, at most {commits + args.repositories} model calls (a commit's, a day's)")


if __name__ == "__main__":
    main()
