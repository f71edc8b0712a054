"""Ingest wall time: a real repository from upload to `completed`, through the orchestrator, NATS, the
worker, the preprocessor and LightRAG, each a separate process as `sparkctl local up` runs them, on
embedded PostgreSQL, Redis and NATS, with the built-in hash embedder (code needs no LLM call).

    python bench/ingest.py [--files 2000] [--runs 3] [--package kubernetes] [--vector-index exact|hnsw]

Baseline, in the same process: parsing the same files locally (no services, no storage).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

from sparkctl.client import Endpoint, OrchestratorClient
from sparkctl.local.process import free_port
from sparkctl.local.servers import nats, postgres, redis
from sparkctl.local.services import service_process
from sparkctl.local.stack import StackOptions, service_env
from sparkctl.local.state import SERVICES
from sparkctl.services.preprocessor.parse import parse_file


def repository(package: str, limit: int) -> list[tuple[str, bytes]]:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
    root = Path(next(iter(spec.submodule_search_locations)))
    paths = sorted(p for p in root.rglob("*.py") if p.stat().st_size <= 1024 * 1024)[:limit]
    return [(f"{package}/{p.relative_to(root).as_posix()}", p.read_bytes()) for p in paths]


def tarball(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--package", default="kubernetes")
    parser.add_argument("--vector-index", choices=("exact", "hnsw"), default="exact", help="as `sparkctl local up`")
    args = parser.parse_args()

    files = repository(args.package, args.files)
    archive = tarball(files)
    start = time.perf_counter()
    for path, data in files:
        parse_file(path, data)
    local_parse = time.perf_counter() - start

    data_dir = Path(tempfile.mkdtemp(prefix="sparkctl-bench-"))
    data_dir.chmod(0o755)
    servers = [
        postgres(data_dir, free_port(), durable=False),
        redis(data_dir, free_port(), durable=False),
        nats(data_dir, free_port()),
    ]
    for server in servers:
        server.process.start()
    database, cache, queue = (server.url for server in servers)
    ports: dict[str, int | None] = {name: free_port() for name in ("lightrag", "preprocessor", "orchestrator")}
    ports["worker"] = None
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    options = StackOptions(
        data_dir=data_dir, port=ports["orchestrator"] or 0, llm_url="http://127.0.0.1:9", embedder="hash"
    )
    env = service_env(options, {"postgres": database, "redis": cache, "nats": queue}, ports)
    for settings in env.values():
        settings["SPARKCTL_LOG_LEVEL"] = "warning"
    env["lightrag"] |= {"SPARKCTL_PROSE_MODE": "chunks", "SPARKCTL_VECTOR_INDEX": args.vector_index}
    services = [service_process(name, port=ports[name], env=env[name], log_dir=data_dir / "logs") for name in SERVICES]
    try:
        for service in services:
            service.start()
        times = []
        with OrchestratorClient(Endpoint(url["orchestrator"], "bench"), timeout=600) as client:
            for run in range(args.runs):
                began = time.perf_counter()
                job = client.upload_codebase(archive, name=args.package, workspace=f"bench{run}")
                for _ in client.follow_job(job["id"]):
                    pass
                final = client.job(job["id"])
                times.append(time.perf_counter() - began)
                assert final["status"] == "completed", final["error"]
        median = statistics.median(times)
        print(
            f"repository: {len(files)} files of {args.package}, {sum(len(d) for _, d in files) / 1e6:.1f} MB; "
            f"{final['entities']} entities, {final['relations']} relations, {final['chunks']} chunks per run"
        )
        print(f"{'step':<44} {'seconds':>8} {'files/s':>8} {'x baseline':>11}")
        print(
            f"{'local parse of the same files (baseline)':<44} {local_parse:>8.1f} {len(files) / local_parse:>8.0f} "
            f"{1.0:>11.2f}"
        )
        print(
            f"{'upload → completed (median of ' + str(args.runs) + ')':<44} {median:>8.1f} {len(files) / median:>8.0f} "
            f"{median / local_parse:>11.2f}"
        )
        print(f"vector index: {args.vector_index}")
        print(f"runs: {', '.join(f'{t:.1f}' for t in times)} s; target: 2000 files in under 60 s on 2 cores")
    finally:
        for process in reversed([*(s.process for s in servers), *services]):
            process.stop()


if __name__ == "__main__":
    main()
