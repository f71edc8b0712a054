"""What `sparkctl local status` reports of the recorded stack: each process as the state file and /proc show it
(state, restarts, last exit, health), what is down, and the error `status` exits with while something is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparkctl.errors import ConfigError, ProcessError, SparkctlError
from sparkctl.local.process import tail_lines
from sparkctl.local.servers import nats_answers, postgres_answers, redis_answers
from sparkctl.local.services import http_ready
from sparkctl.local.state import ORDER, ProcessRecord, StackState, read_state, state_file
from sparkctl.local.supervisor import FAILED, RESTARTING, RUNNING, STARTING

DEAD = "dead"
LOG_TAIL = 5


@dataclass(frozen=True)
class ServiceView:
    """One line of the services table."""

    name: str
    state: str
    port: int | None
    pid: int | None
    healthy: bool | None
    log: Path | None
    restarts: int = 0
    last_exit: str | None = None
    exited_at: str | None = None
    log_tail: tuple[str, ...] = ()

    @property
    def down(self) -> bool:
        return self.state in (DEAD, RESTARTING, FAILED)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "port": self.port,
            "pid": self.pid,
            "healthy": self.healthy,
            "log": str(self.log) if self.log else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "exited_at": self.exited_at,
            "log_tail": list(self.log_tail),
        }


def probe_health(name: str, port: int | None) -> bool:
    """Whether a running server or service answers on its port (the worker has none: running is healthy)."""
    if port is None:
        return True
    checks: dict[str, Callable[[int], bool]] = {
        "postgres": postgres_answers,
        "redis": redis_answers,
        "nats": nats_answers,
    }
    return checks.get(name, http_ready)(port)


@dataclass(frozen=True)
class StackStatus:
    """What `status` reports: the recorded stack (if any), each process, or why the state file is unusable."""

    state_file: Path
    state: StackState | None
    services: list[ServiceView] = field(default_factory=list)
    problem: str | None = None

    @property
    def running(self) -> bool:
        return self.state is not None and any(view.state == RUNNING for view in self.services)

    @property
    def stale(self) -> bool:
        return (self.state is not None and not self.running) or self.problem is not None

    @property
    def down(self) -> list[str]:
        """The processes that should run and do not."""
        if self.state is None:
            return []
        return [v.name for v in self.services if v.down or (v.state == "not started" and self.state.ready)]

    @property
    def healthy(self) -> bool:
        """No stack at all, or one whose every process runs under a live supervisor."""
        return self.trouble() is None

    def trouble(self) -> SparkctlError | None:
        """What is wrong with the recorded stack, as the error `status` exits with: None when nothing is."""
        state = self.state
        if self.problem is not None:
            return ConfigError(self.problem, hint="`sparkctl local down` removes it.")
        if state is None:
            return None
        if self.stale:
            return ProcessError(
                f"the state file {self.state_file} is stale: none of its processes runs (the stack crashed or the "
                "machine restarted)",
                hint="`sparkctl local down` removes it; `sparkctl local up` starts afresh.",
            )
        views = {view.name: view for view in self.services}
        down = self.down
        if down:
            logs = " or ".join(f"`sparkctl local logs {name}`" for name in down)
            again = any(views[name].state != RESTARTING for name in down)
            unwatched = "" if state.supervised else ", and no supervisor restarts it"
            return ProcessError(
                "down: " + ", ".join(f"{name} ({_how_down(views[name])})" for name in down) + unwatched,
                hint=f"See why with {logs}." + (" `sparkctl local up` starts what is down again." if again else ""),
            )
        if not state.supervised:
            who = f" (pid {state.supervisor.pid} has exited)" if state.supervisor is not None else ""
            return ProcessError(
                f"no supervisor watches the local stack{who}: a process that crashes is not restarted",
                hint="`sparkctl local up` starts a supervisor again.",
            )
        return None


def _how_down(view: ServiceView) -> str:
    last = f"; last exit: {view.last_exit}" if view.last_exit else ""
    if view.state == FAILED:
        return f"failed, left down{last}"
    if view.state == RESTARTING:
        return f"restarting, restart {view.restarts + 1}{last}"
    return view.state


def stack_status(path: Path | None = None) -> StackStatus:
    path = path or state_file()
    try:
        state = read_state(path)
    except ConfigError as error:
        return StackStatus(path, None, problem=error.message)
    if state is None:
        return StackStatus(path, None)
    return StackStatus(path, state, recorded_views(state))


def recorded_views(state: StackState, *, probe: bool = True) -> list[ServiceView]:
    """Each process as the state file and /proc show it; `probe` asks each running one whether it answers."""
    views = []
    for name in ORDER:
        record = state.service(name)
        if record is None:
            views.append(ServiceView(name, "not started", None, None, None, None))
            continue
        views.append(record_view(record, supervised=state.supervised, probe=probe))
    return views


def record_view(record: ProcessRecord, *, supervised: bool, probe: bool = True) -> ServiceView:
    alive = record.alive
    if alive:
        shown = STARTING if record.state == STARTING else RUNNING
    elif supervised and record.state in (STARTING, RESTARTING, FAILED):
        shown = record.state
    else:
        shown = DEAD
    healthy = (probe_health(record.name, record.port) if probe else None) if alive else False
    tail = tuple(tail_lines(record.log, LOG_TAIL)) if record.log and shown in (DEAD, FAILED) else ()
    return ServiceView(
        record.name,
        shown,
        record.port,
        record.pid if alive else None,
        healthy,
        record.log,
        record.restarts,
        record.last_exit,
        record.exited_at,
        tail,
    )
