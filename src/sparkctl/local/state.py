"""The local stack as recorded: the state file a running stack leaves (pids, ports, logs, the orchestrator's
endpoint), and what `status`, `down` and `logs` do from it, whichever process started the stack.

Each process is recorded with its start time from /proc, so a pid the kernel has since given to another
process is never taken for the stack's, and with what its supervisor knows of it (state, restarts, last exit).
A state file none of whose processes runs is stale.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sparkctl import paths
from sparkctl.errors import ConfigError
from sparkctl.local.process import process_alive, stop_pid
from sparkctl.local.supervisor import FAILED, RESTARTING, RUNNING

STATE_VERSION = 1
SERVERS = ("postgres", "redis", "nats")
SERVICES = ("lightrag", "preprocessor", "orchestrator", "worker")
ORDER = SERVERS + SERVICES
"""The processes of a local stack, in the order they start."""
SUPERVISOR_LOG = "supervisor"
"""The log of a detached stack's supervisor: data_dir/logs/supervisor.log."""
DATA_MARKER = ".sparkctl-local"


def state_file() -> Path:
    return paths.state_dir() / "local-stack.json"


@dataclass(frozen=True)
class ProcessRecord:
    """One process of the stack, as `down`, `status` and `logs` find it again."""

    name: str
    pid: int
    start_ticks: int
    port: int | None = None
    log: Path | None = None
    stop_signal: str = "SIGTERM"
    stop_timeout: float = 10.0
    state: str = RUNNING
    restarts: int = 0
    last_exit: str | None = None
    exited_at: str | None = None

    @property
    def alive(self) -> bool:
        return process_alive(self.pid, self.start_ticks)

    @property
    def signal(self) -> signal.Signals:
        return signal.Signals[self.stop_signal]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "log": str(self.log) if self.log else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRecord:
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
            port=int(data["port"]) if data.get("port") is not None else None,
            log=Path(data["log"]) if data.get("log") else None,
            stop_signal=str(data.get("stop_signal", "SIGTERM")),
            stop_timeout=float(data.get("stop_timeout", 10.0)),
            state=str(data.get("state", RUNNING)),
            restarts=int(data.get("restarts", 0)),
            last_exit=str(data["last_exit"]) if data.get("last_exit") else None,
            exited_at=str(data["exited_at"]) if data.get("exited_at") else None,
        )


@dataclass
class StackState:
    """What the state file holds. `api_key` says whether one is required, never what it is."""

    data_dir: Path
    endpoint: str
    embedder: str
    llm_url: str
    api_key: bool
    detached: bool
    started_at: str
    supervisor: ProcessRecord | None = None
    services: list[ProcessRecord] = field(default_factory=list)
    ready: bool = False
    version: int = STATE_VERSION

    def alive(self) -> list[ProcessRecord]:
        """The recorded processes that still run, the supervising `sparkctl local up` included."""
        processes = [self.supervisor, *self.services] if self.supervisor else self.services
        return [record for record in processes if record.alive]

    @property
    def stale(self) -> bool:
        return not self.alive()

    @property
    def supervised(self) -> bool:
        """True while the process that restarts crashed ones (foreground `up` or a detached supervisor) runs."""
        return self.supervisor is not None and self.supervisor.alive

    def down(self) -> list[str]:
        """The processes that should run and do not (all of them, once the stack was ready)."""
        names = []
        for name in ORDER:
            record = self.service(name)
            if record is None:
                if self.ready:
                    names.append(name)
            elif not record.alive or record.state in (RESTARTING, FAILED):
                names.append(name)
        return names

    def service(self, name: str) -> ProcessRecord | None:
        return next((record for record in self.services if record.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "data_dir": str(self.data_dir),
            "endpoint": self.endpoint,
            "embedder": self.embedder,
            "llm_url": self.llm_url,
            "api_key": self.api_key,
            "detached": self.detached,
            "started_at": self.started_at,
            "ready": self.ready,
            "supervisor": self.supervisor.to_json() if self.supervisor else None,
            "services": [record.to_json() for record in self.services],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackState:
        supervisor = data.get("supervisor")
        return cls(
            data_dir=Path(data["data_dir"]),
            endpoint=str(data["endpoint"]),
            embedder=str(data.get("embedder", "llm")),
            llm_url=str(data.get("llm_url", "")),
            api_key=bool(data.get("api_key", False)),
            detached=bool(data.get("detached", True)),
            started_at=str(data.get("started_at", "")),
            supervisor=ProcessRecord.from_json(supervisor) if supervisor else None,
            services=[ProcessRecord.from_json(record) for record in data.get("services", [])],
            ready=bool(data.get("ready", False)),
            version=int(data.get("version", STATE_VERSION)),
        )


def read_state(path: Path | None = None) -> StackState | None:
    """The recorded stack, None when there is no state file; ConfigError when it cannot be understood."""
    path = path or state_file()
    try:
        data = json.loads(path.read_text())
        return StackState.from_json(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"the local stack's state file {path} cannot be read: {exc}",
            hint="`sparkctl local down` removes it.",
        ) from None


def write_state(state: StackState, path: Path | None = None, *, exclusive: bool = False) -> None:
    """Write the state file atomically; with `exclusive`, FileExistsError when one is already there."""
    path = path or state_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(state.to_json(), indent=2) + "\n")
        try:
            if exclusive:
                os.link(temporary, path)
            else:
                os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    except FileExistsError:
        raise
    except OSError as exc:
        raise ConfigError(
            f"cannot write the local stack's state file {path}: {exc.strerror or exc}",
            hint="Make its directory writable, or point XDG_STATE_HOME somewhere writable.",
        ) from None


def remove_state(path: Path | None = None) -> None:
    with contextlib.suppress(FileNotFoundError):
        (path or state_file()).unlink()


def running_endpoint(path: Path | None = None) -> str | None:
    """The orchestrator URL of the local stack if its state file says one is running, else None."""
    try:
        state = read_state(path)
    except ConfigError:
        return None
    if state is None:
        return None
    orchestrator = state.service("orchestrator")
    return state.endpoint if orchestrator is not None and orchestrator.alive else None


ROOT_DATA_DIR = Path("/var/lib/sparkctl/local")
"""As root, where the local stack's data goes: reachable by PostgreSQL's own user without opening /root."""


def default_data_dir() -> Path:
    if os.geteuid() == 0 and not os.environ.get("XDG_DATA_HOME"):
        return ROOT_DATA_DIR
    return paths.data_dir() / "local"


def embedder_label(embedder: str, llm_url: str) -> str:
    if embedder == "hash":
        return "hash (offline, lower quality)"
    return f"llm (the embed model of models.toml at {llm_url})"


def recorded_state(path: Path | None = None) -> StackState | None:
    """The recorded stack, if a readable state file names one."""
    try:
        return read_state(path or state_file())
    except ConfigError:
        return None


@dataclass(frozen=True)
class Stopped:
    """What `down` found: no state file, a stale or unreadable one, or a stack it stopped."""

    state: StackState | None
    found: str


def stop_stack(path: Path | None = None, on_stop: Callable[[str], None] | None = None) -> Stopped:
    """Stop the recorded stack in reverse order and remove its state file."""
    path = path or state_file()
    try:
        state = read_state(path)
    except ConfigError:
        remove_state(path)
        return Stopped(None, "unreadable")
    if state is None:
        return Stopped(None, "none")
    if state.stale:
        remove_state(path)
        return Stopped(state, "stale")
    supervisor = state.supervisor
    if supervisor is not None and supervisor.alive:
        if on_stop is not None:
            on_stop(f"{'the supervisor' if state.detached else 'sparkctl local up'} (pid {supervisor.pid})")
        budget = sum(record.stop_timeout for record in state.services) + 5.0
        stop_pid(supervisor.pid, supervisor.start_ticks, signal.SIGTERM, budget, group=False)
    for record in sorted(state.services, key=lambda r: ORDER.index(r.name), reverse=True):
        if record.alive:
            if on_stop is not None:
                on_stop(record.name)
            stop_pid(record.pid, record.start_ticks, record.signal, record.stop_timeout)
    remove_state(path)
    return Stopped(state, "running")


def purge_target(data_dir: Path | None, path: Path | None = None) -> Path:
    """The data directory `down --purge` deletes: the recorded stack's, else --data-dir, else the default one."""
    recorded = recorded_state(path)
    chosen = data_dir.absolute() if data_dir is not None else None
    if recorded is not None and chosen is not None and recorded.data_dir != chosen:
        raise ConfigError(
            f"the recorded local stack keeps its data in {recorded.data_dir}, not in {chosen}",
            hint="Leave out --data-dir to purge the stack's own data.",
        )
    return chosen or (recorded.data_dir if recorded else default_data_dir().absolute())


def purge_data(data_dir: Path) -> bool:
    """Delete the stack's data directory; False when there is none. Refuses a directory it did not make."""
    if not data_dir.exists():
        return False
    if not (data_dir / DATA_MARKER).is_file() and any(data_dir.iterdir()):
        raise ConfigError(
            f"{data_dir} does not look like a sparkctl local data directory (no {DATA_MARKER} in it); not deleting it",
            hint="Check the path; delete it yourself if you are sure.",
        )
    try:
        shutil.rmtree(data_dir)
    except OSError as exc:
        raise ConfigError(
            f"could not delete {data_dir}: {exc.strerror or exc}", hint="Check its permissions."
        ) from None
    return True


def log_files(path: Path | None = None, data_dir: Path | None = None, service: str | None = None) -> dict[str, Path]:
    """The log of each process (or of one): those the state file names, else those in the data directory."""
    names = (*ORDER, SUPERVISOR_LOG)
    if service is not None and service not in names:
        raise ConfigError(f"there is no local service named {service!r}", hint=f"Choose one of: {', '.join(names)}.")
    state = recorded_state(path)
    folder = ((data_dir or (state.data_dir if state else None) or default_data_dir()).absolute()) / "logs"
    recorded = {r.name: r.log for r in state.services if r.log} if state and data_dir is None else {}
    found = {name: recorded.get(name) or folder / f"{name}.log" for name in ([service] if service else names)}
    found = {name: log for name, log in found.items() if log.is_file()}
    if not found:
        raise ConfigError(
            f"no logs of {service or 'the local stack'} in {folder}",
            hint="Start the stack with `sparkctl local up`, or name its data directory with --data-dir.",
        )
    return found
