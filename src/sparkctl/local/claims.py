"""What `sparkctl local up` does about a stack it finds recorded, short of starting processes: refuse a healthy one,
ask the live supervisor of a partly dead one to restart what is down (SIGUSR1) and wait for it, or take the
recorded options of one it resumes. One claim at a time per state file, across processes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sparkctl.errors import ProcessError
from sparkctl.local.state import StackState, read_state
from sparkctl.local.supervisor import FAILED, RESTARTING, RUNNING

if TYPE_CHECKING:
    from sparkctl.local.plan import StackOptions

RECOVERY_TIMEOUT = 120.0
"""How long `up` waits for a live supervisor to bring back what is down."""


@dataclass(frozen=True)
class Claim:
    """What `claim` found: notices for the user; the processes it adopted (a resumed stack); or those a live
    supervisor was asked to restart (then this run starts nothing and waits with `await_recovery`), with the
    restart count each had then."""

    notices: list[str] = field(default_factory=list)
    adopted: tuple[str, ...] = ()
    retried: tuple[str, ...] = ()
    supervisor: int | None = None
    restarts: dict[str, int] = field(default_factory=dict)


def recorded_options(state: StackState, options: StackOptions) -> StackOptions:
    """The options a recorded stack runs with; the API key and --detach come from this command."""
    port = urlsplit(state.endpoint).port or options.port
    return replace(options, data_dir=state.data_dir, port=port, llm_url=state.llm_url, embedder=state.embedder)


def already_running(state: StackState | None, path: Path) -> ProcessError:
    where = f" at {state.endpoint} (data in {state.data_dir})" if state else ""
    return ProcessError(
        f"a local stack is already running{where}; its state file is {path}",
        hint="Stop it with `sparkctl local down`, or use it as it is.",
    )


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the state file's lock: one `claim` at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(f".{path.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ask_supervisor(state: StackState, path: Path, notices: list[str]) -> Claim:
    """A live supervisor owns the stack: ask it to restart what is down now; refuse when nothing is."""
    down = state.down()
    if state.supervisor is None or not state.ready or not down:
        raise already_running(state, path)
    restarts = {name: record.restarts if (record := state.service(name)) else 0 for name in down}
    with contextlib.suppress(ProcessLookupError):
        os.kill(state.supervisor.pid, signal.SIGUSR1)
    notices.append(f"asked the stack's supervisor (pid {state.supervisor.pid}) to restart {', '.join(down)} now")
    return Claim(notices, retried=tuple(down), supervisor=state.supervisor.pid, restarts=restarts)


def await_recovery(path: Path, claim: Claim, timeout: float = RECOVERY_TIMEOUT) -> StackState:
    """The recorded stack once its supervisor has restarted what `claim` found down; ProcessError when one fails
    to start again, the supervisor stops, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        state = read_state(path)
        if state is None or not state.supervised:
            raise ProcessError(
                f"the local stack's supervisor stopped while restarting {', '.join(claim.retried)}",
                hint="See `sparkctl local status`, then `sparkctl local up` again.",
            )
        pending, failed = [], {}
        for name in claim.retried:
            record = state.service(name)
            if record is None or record.restarts <= claim.restarts.get(name, 0):
                pending.append(name)
            elif record.state in (RESTARTING, FAILED):
                failed[name] = record.last_exit
            elif not (record.alive and record.state == RUNNING):
                pending.append(name)
        if failed:
            raise ProcessError(
                ", ".join(f"{name} ({last_exit})" for name, last_exit in failed.items()) + " did not start again",
                hint=f"See why with {' or '.join(f'`sparkctl local logs {name}`' for name in failed)}.",
            )
        if not pending:
            return state
        if time.monotonic() > deadline:
            raise ProcessError(
                f"{', '.join(pending)} did not come back within {timeout:.0f} s",
                hint="Follow it with `sparkctl local status`.",
            )
        time.sleep(0.2)
