"""The GraphRAG stack as local processes, started by this process: the plan, its checks, starting in order.

PostgreSQL, Redis and NATS start one after the other; LightRAG, the preprocessor and the orchestrator then
start together (they only need the servers, and starting them at once halves the wait on two cores); the
worker comes last, so that jobs queued by an earlier run find every service up. Each process is recorded in
the state file (see state.py) as soon as it exists.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from sparkctl.catalog import Catalog, load_catalog
from sparkctl.errors import ConfigError, PortInUse, ProcessError
from sparkctl.local.process import ManagedProcess, ensure_port_free, free_port, start_ticks
from sparkctl.local.servers import nats, postgres, redis
from sparkctl.local.services import service_process
from sparkctl.local.state import (
    DATA_MARKER,
    ORDER,
    SERVERS,
    SERVICES,
    ProcessRecord,
    ServiceView,
    StackState,
    probe_health,
    read_state,
    remove_state,
    state_file,
    write_state,
)

DEFAULT_PORT = 8100
DEFAULT_LLM_URL = "http://127.0.0.1:11434"
WORKER_READY_LINE = "worker consuming"
HEALTH_INTERVAL = 10.0
"""Seconds between health probes of a running stack's table (each probe is a line in the service's log)."""


@dataclass(frozen=True)
class StackOptions:
    data_dir: Path
    port: int = DEFAULT_PORT
    llm_url: str = DEFAULT_LLM_URL
    embedder: str = "llm"
    api_key: str | None = None
    detach: bool = False

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def llm_reachable(url: str, timeout: float = 2.0) -> bool:
    """True when Ollama (/api/tags) or an OpenAI-compatible server (/models under a /v1 base) answers."""
    for path in ("/api/tags", "/models"):
        try:
            if httpx.get(url.rstrip("/") + path, timeout=timeout).status_code == 200:
                return True
        except httpx.HTTPError:
            continue
    return False


def llm_warning(url: str, embedder: str) -> str | None:
    if llm_reachable(url):
        return None
    consequence = (
        "code ingestion and the graph work with the hash embedder"
        if embedder == "hash"
        else "embeddings need it too: start it, or use --embedder hash to index code offline"
    )
    return (
        f"no LLM server answers at {url} (tried /api/tags and /models): chat and document extraction fail "
        f"until one does; {consequence}."
    )


def check_embedder(url: str, catalog: Catalog) -> None:
    """One short embedding from the catalog's embed model at `url`: ProcessError when its vectors are not the
    size models.toml says (every ingest would fail); nothing when the server does not answer (warned apart)."""
    import asyncio

    from sparkctl.services.common.llm import LlmClient, LlmError, create_http_client

    embed = catalog.by_role("embed")
    if not embed or not llm_reachable(url):
        return

    async def size() -> int:
        async with create_http_client(30) as http:
            return int((await LlmClient(url, http).embed(embed[0].pull_ref, ["the size of a vector"])).shape[1])

    try:
        found = asyncio.run(size())
    except LlmError:
        return
    if found != embed[0].dimensions:
        raise ProcessError(
            f"the model server at {url} returned {found}-dimensional embeddings from {embed[0].pull_ref}; "
            f"models.toml says {embed[0].dimensions}",
            hint="Serve the catalog's embed model there (--llm-url), give models.toml that model's dimensions "
            "(--models), or use --embedder hash.",
        )


class LocalStack:
    """One `sparkctl local up`: claim the state file, start every process, report, stop."""

    def __init__(self, options: StackOptions, state_path: Path | None = None) -> None:
        self.options = replace(options, data_dir=options.data_dir.expanduser().absolute())
        self.state_path = state_path or state_file()
        self._processes: dict[str, ManagedProcess] = {}
        self._phase: dict[str, str] = dict.fromkeys(ORDER, "waiting")
        self._health: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._state: StackState | None = None

    def claim(self) -> list[str]:
        """Check everything that can be checked before starting, and record this run in the state file.

        Returns notices for the user (a stale state file that was removed); raises when a stack runs
        already, the data directory is not writable or the orchestrator's port is taken.
        """
        notices = clear_stale(self.state_path)
        prepare_data_dir(self.options.data_dir)
        check_orchestrator_port(self.options.port)
        self._build()
        me = os.getpid()
        self._state = StackState(
            data_dir=self.options.data_dir,
            endpoint=self.options.endpoint,
            embedder=self.options.embedder,
            llm_url=self.options.llm_url,
            api_key=self.options.api_key is not None,
            detached=self.options.detach,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            supervisor=ProcessRecord("sparkctl", me, start_ticks(me) or 0),
        )
        try:
            write_state(self._state, self.state_path, exclusive=True)
        except FileExistsError:
            current = read_state(self.state_path)
            raise already_running(current, self.state_path) from None
        return notices

    def start(self) -> list[str]:
        """Start every process in order; return warnings (no LLM server). On any failure, stop them all."""
        if self._state is None:
            raise RuntimeError("claim() the stack before starting it")
        with ThreadPoolExecutor(max_workers=len(SERVICES)) as pool:
            llm = pool.submit(llm_warning, self.options.llm_url, self.options.embedder)
            try:
                if self.options.embedder == "llm":
                    check_embedder(self.options.llm_url, load_catalog())
                for name in SERVERS:
                    self._start_one(name)
                self._start_together(pool, SERVICES[:-1])
                self._start_one("worker")
            except BaseException:
                self._abort.set()
                pool.shutdown(wait=True, cancel_futures=True)
                self.stop()
                raise
            warning = llm.result()
        with self._lock:
            self._state.ready = True
            if self.options.detach:
                self._state.supervisor = None
            write_state(self._state, self.state_path)
        return [warning] if warning else []

    def stop(self) -> None:
        """Stop every process in reverse order, then remove the state file if it is still this run's."""
        for name in reversed(ORDER):
            process = self._processes.get(name)
            if process is None or self._phase[name] == "waiting":
                continue
            exited = process.exit_code
            if self._phase[name] == "running" and exited is not None:
                self._phase[name] = f"exited ({exited})"
            elif self._phase[name] != "failed":
                self._phase[name] = "stopping"
            process.stop()
            if self._phase[name] == "stopping":
                self._phase[name] = "stopped"
        self._release()

    @property
    def ready(self) -> bool:
        """True once every process has started and answered."""
        return self._state is not None and self._state.ready

    @property
    def all_exited(self) -> bool:
        started = [self._processes[name] for name in ORDER if self._phase[name] != "waiting"]
        return bool(started) and not any(process.running for process in started)

    def views(self) -> list[ServiceView]:
        return [self._view(name) for name in ORDER]

    def _build(self) -> None:
        data, logs = self.options.data_dir, self.options.data_dir / "logs"
        ports = distinct_free_ports(5, exclude={self.options.port})
        servers = {
            "postgres": postgres(data, ports[0]),
            "redis": redis(data, ports[1]),
            "nats": nats(data, ports[2]),
        }
        service_ports: dict[str, int | None] = {
            "lightrag": ports[3],
            "preprocessor": ports[4],
            "orchestrator": self.options.port,
            "worker": None,
        }
        env = service_env(self.options, {name: server.url for name, server in servers.items()}, service_ports)
        self._processes = {name: server.process for name, server in servers.items()}
        for name in SERVICES:
            self._processes[name] = service_process(
                name,
                port=service_ports[name],
                env=env[name],
                log_dir=logs,
                ready_line=WORKER_READY_LINE if name == "worker" else None,
            )

    def _start_one(self, name: str) -> None:
        self._phase[name] = "starting"
        try:
            self._processes[name].start(on_spawn=self._spawned, abort=self._abort)
        except BaseException:
            self._phase[name] = "failed"
            raise
        self._phase[name] = "running"

    def _start_together(self, pool: ThreadPoolExecutor, names: Iterable[str]) -> None:
        """Start these at once; the first to fail cancels the others and is the error raised."""
        futures: list[Future[None]] = [pool.submit(self._start_one, name) for name in names]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((future for future in done if future.exception() is not None), None)
        if failed is None:
            return
        self._abort.set()
        wait(futures)
        raise failed.exception()  # type: ignore[misc]

    def _spawned(self, process: ManagedProcess) -> None:
        pid = process.pid
        if pid is None or self._state is None:
            return
        spec = process.spec
        record = ProcessRecord(
            name=spec.name,
            pid=pid,
            start_ticks=start_ticks(pid) or 0,
            port=spec.port,
            log=spec.log_path,
            stop_signal=spec.stop_signal.name,
            stop_timeout=spec.stop_timeout,
        )
        with self._lock:
            self._state.services = [r for r in self._state.services if r.name != spec.name] + [record]
            write_state(self._state, self.state_path)

    def _release(self) -> None:
        try:
            current = read_state(self.state_path)
        except ConfigError:
            return
        if current is not None and current.supervisor is not None and current.supervisor.pid == os.getpid():
            remove_state(self.state_path)

    def _view(self, name: str) -> ServiceView:
        process = self._processes.get(name)
        if process is None:
            return ServiceView(name, self._phase[name], None, None, None, None)
        phase, healthy = self._phase[name], None
        if phase == "running" and not process.running:
            phase = f"exited ({process.exit_code})"
        elif phase == "running":
            healthy = self._cached_health(name, process.spec.port)
        return ServiceView(name, phase, process.spec.port, process.pid, healthy, process.spec.log_path)

    def _cached_health(self, name: str, port: int | None) -> bool:
        checked, healthy = self._health.get(name, (0.0, False))
        if time.monotonic() - checked >= HEALTH_INTERVAL:
            healthy = probe_health(name, port)
            self._health[name] = (time.monotonic(), healthy)
        return healthy


def distinct_free_ports(count: int, exclude: set[int]) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports and port not in exclude:
            ports.append(port)
    return ports


def service_env(
    options: StackOptions, server_urls: dict[str, str], ports: dict[str, int | None]
) -> dict[str, dict[str, str]]:
    """Each service's SPARKCTL_* settings: those the chart sets, with local storage for LightRAG's graph."""
    common = {
        "SPARKCTL_DATABASE_URL": server_urls["postgres"],
        "SPARKCTL_REDIS_URL": server_urls["redis"],
        "SPARKCTL_NATS_URL": server_urls["nats"],
        "SPARKCTL_LIGHTRAG_URL": f"http://127.0.0.1:{ports['lightrag']}",
        "SPARKCTL_PREPROCESSOR_URL": f"http://127.0.0.1:{ports['preprocessor']}",
        "SPARKCTL_EMBEDDER": options.embedder,
        "SPARKCTL_LLM_URL": options.llm_url,
        "SPARKCTL_LOG_LEVEL": "info",
    }
    env = {name: dict(common) for name in SERVICES}
    env["lightrag"] |= {
        "SPARKCTL_GRAPH_STORAGE": "networkx",
        "SPARKCTL_DATA_DIR": str(options.data_dir / "lightrag"),
        "SPARKCTL_VECTOR_INDEX": "exact",
    }
    if options.api_key is not None:
        env["orchestrator"]["SPARKCTL_API_KEYS"] = options.api_key
    return env


def already_running(state: StackState | None, path: Path) -> ProcessError:
    where = f" at {state.endpoint} (data in {state.data_dir})" if state else ""
    return ProcessError(
        f"a local stack is already running{where}; its state file is {path}",
        hint="Stop it with `sparkctl local down`, or use it as it is.",
    )


def clear_stale(path: Path) -> list[str]:
    """Remove a state file whose processes are all gone (or that cannot be read); raise if a stack runs."""
    try:
        state = read_state(path)
    except ConfigError as error:
        remove_state(path)
        return [f"removed an unreadable state file: {error.message}"]
    if state is None:
        return []
    if not state.stale:
        raise already_running(state, path)
    remove_state(path)
    return [
        f"removed the stale state file {path}: the stack started {state.started_at} is no longer running "
        "(it ended without `sparkctl local down`)"
    ]


def prepare_data_dir(path: Path) -> None:
    """Create the data directory and mark it as the local stack's; ConfigError when it cannot be written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        (path / DATA_MARKER).write_text("data of a sparkctl local stack\n")
    except OSError as exc:
        raise ConfigError(
            f"the data directory {path} is not writable: {exc.strerror or exc}",
            hint="Choose a writable directory with --data-dir.",
        ) from None


def check_orchestrator_port(port: int) -> None:
    try:
        ensure_port_free(port, "the orchestrator")
    except PortInUse:
        raise PortInUse(
            f"port {port}, where the orchestrator would listen, is already in use",
            hint=f"Choose another with --port, or stop what listens there (ss -ltnp 'sport = :{port}').",
        ) from None
