"""Restart=on-failure for the local stack's processes, as systemd does it.

A process that ends by itself (not through `stop`) is restarted after a back-off that starts at
`first_delay` and doubles up to `max_delay`; a run that lasts `reset_after` seconds resets it. A start that
fails counts as a crash. A process that crashes `burst` times within `window` seconds is marked failed and
left down, its log kept, until someone asks for a retry. Each process keeps its restart count and how its
last run ended.

The supervisor does nothing by itself: its owner calls `check()` every fraction of a second, from the one
thread that also stops the stack, so that a stop never races a restart.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sparkctl.errors import ProcessError, SparkctlError
from sparkctl.local.process import ManagedProcess, describe_exit

RUNNING = "running"
STARTING = "starting"
RESTARTING = "restarting"
FAILED = "failed"
STOPPED = "stopped"


@dataclass(frozen=True)
class RestartPolicy:
    """When to restart a process that crashed, and when to give up on it."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    reset_after: float = 60.0
    burst: int = 5
    window: float = 120.0

    def describe(self) -> str:
        return f"{self.burst} crashes within {self.window:.0f} s"


@dataclass
class Supervision:
    """What the supervisor knows of one process."""

    state: str = RUNNING
    restarts: int = 0
    last_exit: str | None = None
    exited_at: str | None = None
    delay: float = 0.0
    up_since: float = 0.0
    next_start: float = 0.0
    crashes: deque[float] = field(default_factory=deque)


@dataclass(frozen=True)
class SupervisionEvent:
    """Something the supervisor did, in words for a log or a terminal."""

    name: str
    kind: str
    message: str


Listener = Callable[[str], None]


class Supervisor:
    """Watches named processes and restarts those that crash, by the policy."""

    def __init__(
        self,
        processes: Mapping[str, ManagedProcess],
        policy: RestartPolicy | None = None,
        *,
        order: Sequence[str] | None = None,
        on_spawn: Callable[[ManagedProcess], None] | None = None,
        on_change: Listener | None = None,
        abort: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.processes = processes
        self.policy = policy or RestartPolicy()
        self.order = list(order or processes)
        self.on_spawn = on_spawn
        self.on_change = on_change
        self.abort = abort or threading.Event()
        self.clock = clock
        self.supervision: dict[str, Supervision] = {}
        self._retry = threading.Event()
        self._stopping = False

    def watch(
        self, name: str, *, restarts: int = 0, last_exit: str | None = None, exited_at: str | None = None
    ) -> None:
        """Supervise `name`, which runs now (started or adopted), carrying what an earlier supervisor knew."""
        self.supervision[name] = Supervision(
            state=RUNNING,
            restarts=restarts,
            last_exit=last_exit,
            exited_at=exited_at,
            delay=self.policy.first_delay,
            up_since=self.clock(),
        )

    def state(self, name: str) -> Supervision | None:
        return self.supervision.get(name)

    def request_retry(self) -> None:
        """Restart failed and waiting processes at the next check, with a fresh crash count (safe from a signal)."""
        self._retry.set()

    def stop(self, name: str) -> None:
        """Stop one process on purpose: it is not restarted."""
        watched = self.supervision.get(name)
        if watched is not None:
            watched.state = STOPPED
        self.processes[name].stop()
        if watched is not None:
            self._changed(name)

    def stop_all(self) -> None:
        """From now on, restart nothing (the owner stops the processes in its own order)."""
        self._stopping = True
        for watched in self.supervision.values():
            watched.state = STOPPED

    @property
    def finished(self) -> bool:
        """True when nothing runs and nothing will be restarted: every process failed or was stopped."""
        watched = self.supervision.values()
        return bool(self.supervision) and all(entry.state in (FAILED, STOPPED) for entry in watched)

    def check(self) -> list[SupervisionEvent]:
        """Notice what crashed, restart what is due, reset the back-off of what has run long enough."""
        if self._stopping:
            return []
        events: list[SupervisionEvent] = []
        now = self.clock()
        if self._retry.is_set():
            self._retry.clear()
            events += self._retry_now(now)
        for name in self._watched():
            watched, process = self.supervision[name], self.processes[name]
            if watched.state != RUNNING:
                continue
            if process.crashed:
                events.append(self._crashed(name, now))
            elif not process.running:
                watched.state = STOPPED
                self._changed(name)
            elif now - watched.up_since >= self.policy.reset_after:
                watched.delay = self.policy.first_delay
        for name in self._watched():
            if self._stopping or self.abort.is_set():
                break
            watched = self.supervision[name]
            if watched.state == RESTARTING and watched.next_start <= self.clock():
                events.append(self._restart(name))
        return events

    def _watched(self) -> list[str]:
        return [name for name in self.order if name in self.supervision]

    def _retry_now(self, now: float) -> list[SupervisionEvent]:
        events = []
        for name in self._watched():
            watched = self.supervision[name]
            if watched.state in (FAILED, RESTARTING):
                watched.state, watched.next_start = RESTARTING, now
                watched.crashes.clear()
                watched.delay = self.policy.first_delay
                events.append(SupervisionEvent(name, "retry", f"{name}: restarting now, as asked"))
                self._changed(name)
        return events

    def _crashed(self, name: str, now: float, start_error: SparkctlError | None = None) -> SupervisionEvent:
        watched, process = self.supervision[name], self.processes[name]
        code = process.reap()
        if start_error is not None and code is None:
            watched.last_exit = start_error.message.split(": ", 1)[0].removeprefix(f"{name} ")
        else:
            watched.last_exit = describe_exit(code) + (" during start" if start_error is not None else "")
        watched.exited_at = datetime.now(UTC).isoformat(timespec="seconds")
        watched.crashes.append(now)
        while watched.crashes and now - watched.crashes[0] > self.policy.window:
            watched.crashes.popleft()
        if len(watched.crashes) >= self.policy.burst:
            watched.state = FAILED
            self._changed(name)
            return SupervisionEvent(
                name,
                "failed",
                f"{name} {watched.last_exit}: {self.policy.describe()}, left down "
                f"(see `sparkctl local logs {name}`): {process.log_tail()}",
            )
        watched.state = RESTARTING
        watched.next_start = now + watched.delay
        delay, watched.delay = watched.delay, min(watched.delay * 2, self.policy.max_delay)
        self._changed(name)
        return SupervisionEvent(name, "exited", f"{name} {watched.last_exit}; restarting in {delay:g} s")

    def _restart(self, name: str) -> SupervisionEvent:
        watched, process = self.supervision[name], self.processes[name]
        watched.restarts += 1
        watched.state = STARTING
        self._changed(name)
        try:
            process.start(on_spawn=self.on_spawn, abort=self.abort)
        except (SparkctlError, OSError) as error:
            if self.abort.is_set() or self._stopping:
                watched.state = STOPPED
                self._changed(name)
                return SupervisionEvent(name, "stopped", f"{name}: restart cancelled")
            if isinstance(error, OSError):
                error = ProcessError(f"{name} could not be started: {error.strerror or error}")
            return self._crashed(name, self.clock(), start_error=error)
        watched.state = RUNNING
        watched.up_since = self.clock()
        self._changed(name)
        return SupervisionEvent(name, "restarted", f"{name} restarted (restart {watched.restarts}, pid {process.pid})")

    def _changed(self, name: str) -> None:
        if self.on_change is not None:
            self.on_change(name)
