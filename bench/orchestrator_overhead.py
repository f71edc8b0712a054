"""Orchestrator overhead: the same chat requests sent straight to a model backend and through the
orchestrator with memory on, at concurrency 1 and 32.

    python bench/orchestrator_overhead.py [--requests 200] [--latency-ms 20]

The backend is a stand-in model server started by this script (OpenAI API, answers after a fixed
latency: no model can run here). PostgreSQL, Redis, NATS and LightRAG are the real embedded servers
and services, each in its own process as `sparkctl local up` runs them. Memory is populated first:
the measured session has earlier turns (working memory hits), another session of the workspace has a
similar summary (recall hits) and the workspace's graph holds the httpx sources (archival). Recall
embeds with the built-in hash embedder. The headline figure has working + recall on; all three tiers
(with archival) are measured separately.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from sparkctl.local.process import ManagedProcess, ProcessSpec, free_port
from sparkctl.local.servers import nats, postgres, redis
from sparkctl.local.services import http_ready, service_process
from sparkctl.local.stack import StackOptions, service_env

QUESTION = "How does the AsyncClient in httpx send a request with retries?"
HEADERS = {"Authorization": "Bearer bench-key", "X-Workspace": "bench"}


def serve_backend(port: int, latency: float) -> None:
    """The stand-in model server: OpenAI chat completions (streamed or not) after `latency` seconds."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    answer = "The client builds a request, sends it through its transport and returns the response."

    async def chat(request: Request) -> Response:
        body = await request.json()
        await asyncio.sleep(latency)
        base = {"id": "chatcmpl-bench", "created": int(time.time()), "model": body.get("model", "bench")}
        if not body.get("stream"):
            message = {"role": "assistant", "content": answer}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            usage = {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
            return JSONResponse({**base, "object": "chat.completion", "choices": [choice], "usage": usage})

        async def events() -> Any:
            for word in answer.split(" "):
                delta = {"index": 0, "delta": {"content": word + " "}, "finish_reason": None}
                yield f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': [delta]})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/health", health)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def backend_process(port: int, latency_ms: float, log_dir: Path) -> ManagedProcess:
    argv = [sys.executable, __file__, "--serve-backend", str(port), "--latency-ms", str(latency_ms)]
    spec = ProcessSpec(
        name="backend", argv=argv, port=port, log_path=log_dir / "backend.log", ready=lambda: http_ready(port)
    )
    return ManagedProcess(spec)


def body(stream: bool) -> dict[str, Any]:
    return {"model": "qwen", "messages": [{"role": "user", "content": QUESTION}], "stream": stream}


async def one(http: httpx.AsyncClient, url: str, headers: dict[str, str], stream: bool) -> tuple[float, float]:
    """(seconds to the whole answer, seconds to the first content) of one request."""
    started = time.perf_counter()
    first = 0.0
    if not stream:
        response = await http.post(url, json=body(False), headers=headers)
        response.raise_for_status()
        elapsed = time.perf_counter() - started
        return elapsed, elapsed
    async with http.stream("POST", url, json=body(True), headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not first and line.startswith("data:") and '"content"' in line:
                first = time.perf_counter() - started
    return time.perf_counter() - started, first


async def load(url: str, headers: dict[str, str], requests: int, concurrency: int, stream: bool) -> dict[str, float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        for _ in range(5):
            await one(http, url, headers, stream)
        queue = iter(range(requests))
        results: list[tuple[float, float]] = []

        async def worker() -> None:
            for _ in queue:
                results.append(await one(http, url, headers, stream))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    totals = sorted(r[0] * 1000 for r in results)
    firsts = sorted(r[1] * 1000 for r in results)
    return {
        "p50": statistics.median(totals),
        "p99": statistics.quantiles(totals, n=100)[98],
        "first": statistics.median(firsts),
        "rps": len(results) / wall,
    }


def rss_mb(pid: int | None) -> float:
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def seed_recall(database_url: str) -> None:
    """Another session of the workspace whose summary is close to the question."""
    import psycopg

    from sparkctl.services.common.embedding import hash_embed
    from sparkctl.services.orchestrator.memory.sessions import vector_literal

    summary = "We discussed how the httpx AsyncClient sends a request, with retries and timeouts."
    with psycopg.connect(database_url) as conn:
        conn.execute(
            """INSERT INTO chat_sessions (workspace, id, user_turns, summary, summary_embedding, summary_turns)
               VALUES ('bench', 'seed', 6, %s, %s::vector, 6) ON CONFLICT DO NOTHING""",
            (summary, vector_literal(hash_embed([summary], 1024)[0])),
        )


def seed_archive(lightrag_url: str) -> None:
    """The httpx sources in the workspace's graph, as the worker would store them."""
    from sparkctl.services.preprocessor.parse import custom_kg, link, parse_file

    spec = importlib.util.find_spec("httpx")
    assert spec is not None and spec.origin
    root = Path(spec.origin).parent
    parsed = [parse_file(f"httpx/{p.relative_to(root)}", p.read_bytes()) for p in sorted(root.rglob("*.py"))]
    kg = custom_kg(link(parsed))
    httpx.post(
        f"{lightrag_url}/documents/custom_kg", json=kg, headers={"LIGHTRAG-WORKSPACE": "bench"}, timeout=300
    ).raise_for_status()


def seed_working(url: str) -> None:
    with httpx.Client(timeout=60) as http:
        for turn in range(4):
            payload = {"model": "qwen", "messages": [{"role": "user", "content": f"earlier question {turn}"}]}
            http.post(url, json=payload, headers={**HEADERS, "X-Session-Id": "measured"}).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--serve-backend", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_backend:
        serve_backend(args.serve_backend, args.latency_ms / 1000)
        return

    data_dir = Path(tempfile.mkdtemp(prefix="sparkctl-bench-"))
    data_dir.chmod(0o755)
    logs = data_dir / "logs"
    servers = [postgres(data_dir, free_port(), durable=False), redis(data_dir, free_port(), durable=False),
               nats(data_dir, free_port())]  # fmt: skip
    ports = {name: free_port() for name in ("backend", "lightrag", "bare", "memory", "archival")}
    backend = f"http://127.0.0.1:{ports['backend']}/v1"
    lightrag = f"http://127.0.0.1:{ports['lightrag']}"
    started: list[ManagedProcess] = []
    try:
        for server in servers:
            server.process.start()
            started.append(server.process)
        database, cache, queue = (server.url for server in servers)
        options = StackOptions(data_dir=data_dir, llm_url=backend, embedder="hash", api_key="bench-key")
        service_ports: dict[str, int | None] = {
            "lightrag": ports["lightrag"], "preprocessor": None, "orchestrator": None, "worker": None,
        }  # fmt: skip
        env = service_env(options, {"postgres": database, "redis": cache, "nats": queue}, service_ports)
        quiet = {"SPARKCTL_LOG_LEVEL": "warning"}
        common = env["orchestrator"] | quiet | {"SPARKCTL_PROMOTE_AFTER_TURNS": "100000"}
        lightrag_env = env["lightrag"] | quiet | {"SPARKCTL_PROSE_MODE": "chunks"}
        processes = {
            "backend": backend_process(ports["backend"], args.latency_ms, logs),
            "lightrag": service_process("lightrag", port=ports["lightrag"], env=lightrag_env, log_dir=logs),
            "bare": service_process(
                "orchestrator", port=ports["bare"], env=common | {"SPARKCTL_MEMORY": "false"}, log_dir=logs
            ),
            "memory": service_process(
                "orchestrator", port=ports["memory"], log_dir=logs,
                env=common | {"SPARKCTL_MEMORY_TIERS": '["working", "recall"]'},
            ),
            "archival": service_process("orchestrator", port=ports["archival"], env=common, log_dir=logs),
        }  # fmt: skip
        for process in processes.values():
            process.start()
            started.append(process)
        seed_recall(database)
        seed_archive(lightrag)
        urls = {name: f"http://127.0.0.1:{ports[name]}/v1/chat/completions" for name in ("bare", "memory", "archival")}
        for url in urls.values():
            seed_working(url)

        session = {**HEADERS, "X-Session-Id": "measured"}
        with httpx.Client(timeout=60) as http:
            probe = http.post(urls["memory"], json=body(False), headers=session)
            memory_header = probe.headers.get("x-sparkctl-memory")
            probe = http.post(urls["archival"], json=body(False), headers=session)
            archival_header = probe.headers.get("x-sparkctl-memory")

        rows = []
        bare = asyncio.run(load(urls["bare"], session, args.requests, 1, False))
        for concurrency in (1, 32):
            n = args.requests if concurrency == 1 else args.requests * 4
            direct = asyncio.run(load(f"{backend}/chat/completions", {}, n, concurrency, False))
            through = asyncio.run(load(urls["memory"], session, n, concurrency, False))
            rows.append((f"c={concurrency} direct to the backend", direct, None))
            if concurrency == 1:
                rows.append(("c=1 orchestrator, memory off", bare, direct))
            rows.append((f"c={concurrency} orchestrator, working+recall", through, direct))
        direct_stream = asyncio.run(load(f"{backend}/chat/completions", {}, args.requests, 1, True))
        through_stream = asyncio.run(load(urls["memory"], session, args.requests, 1, True))
        rows.append(("c=1 stream, direct", direct_stream, None))
        rows.append(("c=1 stream, orchestrator, working+recall", through_stream, direct_stream))
        all_tiers = asyncio.run(load(urls["archival"], session, args.requests, 1, False))
        rows.append(("c=1 orchestrator, all three tiers", all_tiers, rows[0][1]))

        print(f"backend latency {args.latency_ms:.0f} ms; {args.requests} requests at c=1, {args.requests * 4} at c=32")
        print(f"memory headers: working+recall run: {memory_header}; all-tiers run: {archival_header}")
        print(f"{'run':<44} {'p50 ms':>8} {'p99 ms':>8} {'+p50':>7} {'+p99':>7} {'1st ms':>7} {'+1st':>6} {'req/s':>7}")
        for name, figures, baseline in rows:
            added = (
                f"{figures['p50'] - baseline['p50']:>7.1f} {figures['p99'] - baseline['p99']:>7.1f}"
                if baseline else f"{'':>7} {'':>7}"
            )  # fmt: skip
            first = f"{figures['first'] - baseline['first']:>6.1f}" if baseline else f"{'':>6}"
            print(
                f"{name:<44} {figures['p50']:>8.1f} {figures['p99']:>8.1f} {added} "
                f"{figures['first']:>7.1f} {first} {figures['rps']:>7.0f}"
            )
        print(
            f"orchestrator RSS: {rss_mb(processes['memory'].pid):.0f} MB (working+recall), "
            f"{rss_mb(processes['archival'].pid):.0f} MB (all tiers)"
        )
        print("targets: +p50 <= 5 ms, +p99 <= 25 ms at c=1 (working+recall); first-token +5 ms; RSS <= 200 MB")
    finally:
        for process in reversed(started):
            process.stop()


if __name__ == "__main__":
    main()
