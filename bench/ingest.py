"""Ingest at scale: a corpus of real Python files from upload to `completed`, through the orchestrator, NATS, the
worker, the preprocessor and LightRAG, each a separate process as `sparkctl local up` runs them, on embedded
PostgreSQL, Redis and NATS, with the built-in hash embedder (code needs no LLM call).

    python bench/ingest.py [--files 10000] [--runs 1] [--baseline-files 2000] [--package NAME]
                           [--queries 50] [--vector-index ivfflat|hnsw|exact]

The corpus is the `*.py` files of this environment's site-packages (or of one package), sorted by path, those the
worker would skip left out, the first `--files` of them. Each run indexes, into fresh workspaces:
- the baseline: `--baseline-files` of the corpus, evenly spaced through it (the same mix of packages);
- the corpus itself; then the same archive again (nothing changed); then with one file changed;
- then `--queries` archival lookups as the orchestrator's memory makes them (`Archive.lookup`: LightRAG's
  `/query/data`, keywords given), each asking about a function or class the corpus defines; counted are those
  that found something, and those that brought back the definition asked about (its entity, or a chunk defining
  it): what an approximate (ivfflat, hnsw) search loses against an exact one shows there;
- then the LightRAG service restarted, and the time until its first lookup is answered (the workspace's graph is
  read again), with that process's peak RSS.
`--vector-index` is SPARKCTL_VECTOR_INDEX, `ivfflat` as `sparkctl local up` runs it. Times are medians over the runs;
a workspace is cleared once its run is measured. Peak RSS is each service process's VmHWM over the whole bench (the
preprocessor's parser processes counted apart).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import shutil
import statistics
import sysconfig
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sparkctl.client import Endpoint, OrchestratorClient
from sparkctl.codebase import MAX_FILE_BYTES, skipped_dir, text_skip_reason
from sparkctl.local.plan import StackOptions, service_env
from sparkctl.local.process import ManagedProcess, free_port
from sparkctl.local.servers import nats, postgres, redis
from sparkctl.local.services import service_process
from sparkctl.local.state import SERVICES
from sparkctl.services.orchestrator.memory.archival import Archive, Retrieved

GiB = 1024**3
_DEFINITION = re.compile(rb"^(?:async\s+)?(?:def|class)\s+([A-Za-z_][A-Za-z0-9_]{5,})", re.MULTILINE)


def corpus(limit: int, package: str | None) -> list[tuple[str, bytes]]:
    """The first `limit` indexable `*.py` files of site-packages (or of one package in it), sorted by path."""
    root = Path(sysconfig.get_paths()["purelib"])
    base = root / package if package else root
    files: list[tuple[str, bytes]] = []
    for path in sorted(base.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if skipped_dir(name) or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            continue
        data = path.read_bytes()
        if data.strip() and text_skip_reason(data) is None:
            files.append((name, data))
            if len(files) == limit:
                break
    return files


def spread(files: list[tuple[str, bytes]], count: int) -> list[tuple[str, bytes]]:
    """`count` files evenly spaced through `files`."""
    if count >= len(files):
        return list(files)
    return [files[index * len(files) // count] for index in range(count)]


def tarball(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def with_one_change(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The same files, the middle one with a function added."""
    changed = list(files)
    name, data = changed[len(changed) // 2]
    changed[len(changed) // 2] = (name, data + b"\n\ndef bench_added_function():\n    return 42\n")
    return changed


def questions(files: list[tuple[str, bytes]], count: int) -> list[str]:
    """Questions about `count` functions and classes defined in the corpus, spread through it."""
    names = list(dict.fromkeys(match.decode() for _, data in files for match in _DEFINITION.findall(data)))
    picked = [names[index * len(names) // count] for index in range(min(count, len(names)))]
    return [f"What does `{name}` do, and what calls it?" for name in picked]


def peak_rss(pid: int | None) -> int:
    """VmHWM of a process in bytes (0 when it is gone)."""
    if pid is None:
        return 0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


def children(pid: int | None) -> list[int]:
    if pid is None:
        return []
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class Peaks:
    """The highest VmHWM seen of each service process, and of the preprocessor's parser processes."""

    bytes: dict[str, int] = field(default_factory=dict)

    def sample(self, services: list[ManagedProcess]) -> None:
        for service in services:
            self._keep(service.name, peak_rss(service.pid))
            if service.name == "preprocessor":
                for child in children(service.pid):
                    self._keep("preprocessor parser (each)", peak_rss(child))

    def _keep(self, name: str, value: int) -> None:
        self.bytes[name] = max(self.bytes.get(name, 0), value)


def ingest(client: OrchestratorClient, archive: bytes, workspace: str) -> tuple[float, dict]:
    """(seconds from upload to completed, the finished job)."""
    began = time.perf_counter()
    job = client.upload_codebase(archive, name="site-packages", workspace=workspace, prose=False)
    for _ in client.follow_job(job["id"]):
        pass
    final = client.job(job["id"])
    elapsed = time.perf_counter() - began
    if final["status"] != "completed":
        raise SystemExit(f"job {final['id']} in {workspace}: {final['status']}: {final.get('error')}")
    return elapsed, final


def names_the_definition(retrieved: list[Retrieved], question: str) -> bool:
    """Whether a lookup brought back the function or class asked about: as an entity, or a chunk defining it."""
    name = question.split("`")[1]
    defines = re.compile(rf"\b(?:def|class)\s+{re.escape(name)}\b")
    return any(
        (item.entity or "").rsplit(".", 1)[-1] == name or (item.section == "sources" and defines.search(item.text))
        for item in retrieved
    )


async def lookups(lightrag_url: str, workspace: str, asked: list[str]) -> tuple[list[float], int, int]:
    """Seconds of each archival lookup, one after the other; how many found something, and how many brought back
    the definition asked about."""
    times: list[float] = []
    found = named = 0
    async with httpx.AsyncClient(timeout=60) as http:
        archive = Archive(http, lightrag_url, top_k=8)
        await archive.lookup(workspace, asked[0])
        for question in asked:
            began = time.perf_counter()
            retrieved = await archive.lookup(workspace, question)
            times.append(time.perf_counter() - began)
            found += bool(retrieved)
            named += names_the_definition(retrieved, question)
    return times, found, named


def reopened(service: ManagedProcess, lightrag_url: str, workspace: str, question: str) -> tuple[float, int]:
    """Seconds from a restart of the LightRAG service to its first answered lookup; its peak RSS then."""

    async def first_lookup() -> None:
        async with httpx.AsyncClient(timeout=600) as http:
            await Archive(http, lightrag_url, top_k=8).lookup(workspace, question)

    began = time.perf_counter()
    service.restart()
    asyncio.run(first_lookup())
    return time.perf_counter() - began, peak_rss(service.pid)


def clear(lightrag_url: str, workspace: str) -> None:
    httpx.delete(f"{lightrag_url}/documents", headers={"LIGHTRAG-WORKSPACE": workspace}, timeout=600).raise_for_status()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10000, help="files in the corpus")
    parser.add_argument("--runs", type=int, default=1, help="runs; times are their medians")
    parser.add_argument("--baseline-files", type=int, default=2000, help="files of the baseline run")
    parser.add_argument("--package", default=None, help="draw the corpus from this package only")
    parser.add_argument("--queries", type=int, default=50, help="archival lookups timed per run")
    parser.add_argument(
        "--vector-index", choices=("ivfflat", "hnsw", "exact"), default="ivfflat", help="as `sparkctl local up`"
    )
    args = parser.parse_args()

    files = corpus(args.files, args.package)
    baseline = spread(files, args.baseline_files)
    archives = {"baseline": tarball(baseline), "full": tarball(files), "changed": tarball(with_one_change(files))}
    asked = questions(files, args.queries)
    size = sum(len(data) for _, data in files)
    print(
        f"corpus: {len(files)} files, {size / 1e6:.1f} MB ({len(archives['full']) / 1e6:.1f} MB packed) of "
        f"{args.package or 'site-packages'}; baseline: {len(baseline)} of them; {len(asked)} lookups per run",
        flush=True,
    )

    data_dir = Path(tempfile.mkdtemp(prefix="sparkctl-bench-"))
    data_dir.chmod(0o755)
    servers = [
        postgres(data_dir, free_port(), durable=False),
        redis(data_dir, free_port(), durable=False),
        nats(data_dir, free_port()),
    ]
    ports: dict[str, int | None] = {name: free_port() for name in ("lightrag", "preprocessor", "orchestrator")}
    ports["worker"] = None
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    options = StackOptions(
        data_dir=data_dir, port=ports["orchestrator"] or 0, llm_url="http://127.0.0.1:9", embedder="hash"
    )
    services: list[ManagedProcess] = []
    peaks = Peaks()
    timings: dict[str, list[float]] = {name: [] for name in ("baseline", "full", "unchanged", "changed", "reopen")}
    reopen_rss = 0
    latencies: list[float] = []
    found = named = 0
    try:
        for server in servers:
            server.process.start()
        database, cache, queue = (server.url for server in servers)
        env = service_env(options, {"postgres": database, "redis": cache, "nats": queue}, ports)
        for settings in env.values():
            settings["SPARKCTL_LOG_LEVEL"] = "warning"
        env["lightrag"] |= {"SPARKCTL_VECTOR_INDEX": args.vector_index}
        services = [
            service_process(name, port=ports[name], env=env[name], log_dir=data_dir / "logs") for name in SERVICES
        ]
        for service in services:
            service.start()
        with OrchestratorClient(Endpoint(url["orchestrator"], "bench"), timeout=600) as client:
            for run in range(args.runs):
                seconds, _ = ingest(client, archives["baseline"], f"base{run}")
                timings["baseline"].append(seconds)
                peaks.sample(services)
                clear(url["lightrag"], f"base{run}")
                seconds, job = ingest(client, archives["full"], f"bench{run}")
                timings["full"].append(seconds)
                peaks.sample(services)
                seconds, again = ingest(client, archives["full"], f"bench{run}")
                timings["unchanged"].append(seconds)
                seconds, changed = ingest(client, archives["changed"], f"bench{run}")
                timings["changed"].append(seconds)
                times, hits, definitions = asyncio.run(lookups(url["lightrag"], f"bench{run}", asked))
                latencies.extend(times)
                found += hits
                named += definitions
                peaks.sample(services)
                lightrag = next(service for service in services if service.name == "lightrag")
                seconds, rss = reopened(lightrag, url["lightrag"], f"bench{run}", asked[0])
                timings["reopen"].append(seconds)
                reopen_rss = max(reopen_rss, rss)
                print(
                    f"run {run + 1}: baseline {timings['baseline'][-1]:.1f} s, {len(files)} files "
                    f"{timings['full'][-1]:.1f} s, unchanged {timings['unchanged'][-1]:.1f} s "
                    f"({again['files_unchanged']} unchanged), one changed {timings['changed'][-1]:.1f} s "
                    f"({changed['files_done']} indexed), lookup p50 {statistics.median(times) * 1000:.0f} ms, "
                    f"reopened in {timings['reopen'][-1]:.1f} s",
                    flush=True,
                )
                clear(url["lightrag"], f"bench{run}")
    finally:
        for process in reversed([*(s.process for s in servers), *services]):
            process.stop()
    if not latencies:
        return
    median = {name: statistics.median(values) for name, values in timings.items()}
    rate = {name: count / median[name] for name, count in (("baseline", len(baseline)), ("full", len(files)))}
    print(
        f"\nper run: {job['entities']} entities, {job['relations']} relations, {job['chunks']} chunks; "
        f"lookups that found something: {found}/{len(latencies)}, that brought back the definition asked about: "
        f"{named}/{len(latencies)}; median of {args.runs} run(s); "
        f"vector index: {args.vector_index}"
    )
    rows = [
        ("files", f"{len(files)}", ""),
        ("wall time, upload → completed", f"{median['full']:.1f} s", "≤ 180 s"),
        ("throughput", f"{rate['full']:.1f} files/s", ""),
        (
            f"baseline: {len(baseline)} files",
            f"{median['baseline']:.1f} s, {rate['baseline']:.1f} files/s",
            "",
        ),
        ("throughput against the baseline", f"{rate['full'] / rate['baseline']:.2f}", "≥ 0.80"),
        ("re-ingest, nothing changed", f"{median['unchanged']:.1f} s", "≤ 10 s"),
        ("re-ingest, one file changed", f"{median['changed']:.1f} s", "≤ 5 s"),
        ("archival lookup p50", f"{percentile(latencies, 0.5) * 1000:.0f} ms", "≤ 50 ms"),
        ("archival lookup p95", f"{percentile(latencies, 0.95) * 1000:.0f} ms", ""),
        ("LightRAG restarted → first lookup", f"{median['reopen']:.1f} s", ""),
        ("peak RSS lightrag, reopening", f"{reopen_rss / 2**20:.0f} MiB", "≤ 2048 MiB"),
        *((f"peak RSS {name}", f"{value / 2**20:.0f} MiB", "≤ 2048 MiB") for name, value in peaks.bytes.items()),
    ]
    print(f"{'measure':<40} {'value':>28} {'target':>12}")
    for measure, value, target in rows:
        print(f"{measure:<40} {value:>28} {target:>12}")
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
