"""Restart=on-failure for the local stack's processes, with tiny real child processes (`python -c` scripts that
sleep, exit or serve a port). Time that only the supervisor measures runs on a clock the test moves forward, so
back-off and crash-loop limits are exact; the processes and their deaths are real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sparkctl.local.process import ManagedProcess, ProcessSpec, free_port, process_alive, start_ticks, tcp_exchange
from sparkctl.local.supervisor import (
    FAILED,
    RESTARTING,
    RUNNING,
    STOPPED,
    RestartPolicy,
    SupervisionEvent,
    Supervisor,
)

SLEEPER = "import time; print('up', flush=True); time.sleep(60)"
CRASHER = "import sys, time; print('cannot open the queue', flush=True); time.sleep(0.2); sys.exit(3)"


class Clock:
    """The supervisor's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def python(tmp_path: Path, code: str, *, name: str = "job", ready: Callable[[], bool] | None = None) -> ManagedProcess:
    spec = ProcessSpec(
        name=name,
        argv=[sys.executable, "-c", code],
        port=None,
        log_path=tmp_path / f"{name}.log",
        ready=ready or (lambda: True),
        start_timeout=10.0,
        stop_timeout=2.0,
    )
    return ManagedProcess(spec)


def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)


def crash(process: ManagedProcess) -> None:
    """SIGKILL the process, as the kernel's OOM killer or `kill -9` would, and wait until it is gone."""
    pid = process.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    until(lambda: process.crashed)


@pytest.fixture
def started() -> Iterator[list[ManagedProcess]]:
    """Processes a test started; whatever happens, none outlives it."""
    processes: list[ManagedProcess] = []
    yield processes
    for process in processes:
        process.kill()


def supervised(
    process: ManagedProcess, started: list[ManagedProcess], policy: RestartPolicy, clock: Clock
) -> Supervisor:
    started.append(process)
    process.start()
    supervisor = Supervisor({process.name: process}, policy, clock=clock)
    supervisor.watch(process.name)
    return supervisor


def crash_and_check(supervisor: Supervisor, process: ManagedProcess) -> SupervisionEvent:
    crash(process)
    [event] = supervisor.check()
    return event


def test_a_crashed_process_is_restarted_after_the_first_delay_with_a_new_pid(
    tmp_path: Path, started: list[ManagedProcess]
) -> None:
    clock = Clock()
    process = python(tmp_path, SLEEPER)
    supervisor = supervised(process, started, RestartPolicy(first_delay=1.0), clock)
    first = process.pid

    event = crash_and_check(supervisor, process)

    assert event.kind == "exited" and event.message == "job killed by SIGKILL; restarting in 1 s"
    watched = supervisor.state("job")
    assert watched is not None and watched.state == RESTARTING and watched.last_exit == "killed by SIGKILL"
    clock.advance(0.9)
    assert supervisor.check() == [] and not process.running

    clock.advance(0.1)
    [restarted] = supervisor.check()

    assert restarted.kind == "restarted"
    assert process.running and process.pid != first
    assert watched.state == RUNNING and watched.restarts == 1


def test_the_back_off_doubles_up_to_its_cap(tmp_path: Path, started: list[ManagedProcess]) -> None:
    clock = Clock()
    process = python(tmp_path, SLEEPER)
    policy = RestartPolicy(first_delay=1.0, max_delay=4.0, burst=10, window=1000.0)
    supervisor = supervised(process, started, policy, clock)
    delays = []

    for _ in range(5):
        crash_and_check(supervisor, process)
        watched = supervisor.state("job")
        assert watched is not None
        delays.append(watched.next_start - clock.now)
        clock.advance(delays[-1])
        [restarted] = supervisor.check()
        assert restarted.kind == "restarted"

    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert supervisor.state("job").restarts == 5  # type: ignore[union-attr]


def test_a_run_that_lasts_resets_the_back_off(tmp_path: Path, started: list[ManagedProcess]) -> None:
    clock = Clock()
    process = python(tmp_path, SLEEPER)
    policy = RestartPolicy(first_delay=1.0, max_delay=30.0, reset_after=60.0, burst=10, window=1000.0)
    supervisor = supervised(process, started, policy, clock)
    for _ in range(3):
        crash_and_check(supervisor, process)
        clock.advance(10.0)
        supervisor.check()

    clock.advance(60.0)
    assert supervisor.check() == []
    event = crash_and_check(supervisor, process)

    assert event.message.endswith("restarting in 1 s")


def test_a_process_that_keeps_crashing_is_marked_failed_and_left_down_with_its_log(
    tmp_path: Path, started: list[ManagedProcess]
) -> None:
    clock = Clock()
    process = python(tmp_path, CRASHER)
    policy = RestartPolicy(first_delay=1.0, burst=3, window=60.0)
    supervisor = supervised(process, started, policy, clock)
    watched = supervisor.state("job")
    assert watched is not None
    events: list[SupervisionEvent] = []

    for _ in range(3):
        until(lambda: process.crashed)
        events += supervisor.check()
        if watched.state == FAILED:
            break
        clock.advance(watched.next_start - clock.now)
        events += supervisor.check()

    assert [event.kind for event in events] == ["exited", "restarted", "exited", "restarted", "failed"]
    failed = events[-1].message
    assert failed.startswith("job exited with code 3: 3 crashes within 60 s, left down")
    assert "sparkctl local logs job" in failed and "cannot open the queue" in failed
    assert watched.restarts == 2 and watched.last_exit == "exited with code 3"
    clock.advance(3600.0)
    assert supervisor.check() == []
    assert not process.running and supervisor.finished


def test_crashes_spread_wider_than_the_window_never_fail_the_process(
    tmp_path: Path, started: list[ManagedProcess]
) -> None:
    clock = Clock()
    process = python(tmp_path, SLEEPER)
    supervisor = supervised(process, started, RestartPolicy(burst=3, window=60.0), clock)

    for _ in range(5):
        crash_and_check(supervisor, process)
        clock.advance(31.0)
        [restarted] = supervisor.check()
        assert restarted.kind == "restarted"

    assert supervisor.state("job").state == RUNNING  # type: ignore[union-attr]


def test_a_start_that_fails_counts_as_a_crash(tmp_path: Path, started: list[ManagedProcess]) -> None:
    clock = Clock()
    marker = tmp_path / "broken"
    code = f"import pathlib, sys, time; sys.exit(2) if pathlib.Path({str(marker)!r}).exists() else time.sleep(60)"
    process = python(tmp_path, code, ready=lambda: not marker.exists())
    supervisor = supervised(process, started, RestartPolicy(first_delay=1.0), clock)
    marker.write_text("")

    crash_and_check(supervisor, process)
    clock.advance(1.0)
    [failed_start] = supervisor.check()

    watched = supervisor.state("job")
    assert watched is not None
    assert failed_start.kind == "exited"
    assert failed_start.message.endswith("restarting in 2 s")
    assert watched.state == RESTARTING and watched.restarts == 1
    assert watched.last_exit == "exited with code 2 during start"


def test_stopping_a_supervised_process_does_not_restart_it(tmp_path: Path, started: list[ManagedProcess]) -> None:
    clock = Clock()
    first, second = python(tmp_path, SLEEPER, name="first"), python(tmp_path, SLEEPER, name="second")
    started += [first, second]
    first.start()
    second.start()
    supervisor = Supervisor({"first": first, "second": second}, RestartPolicy(), clock=clock)
    supervisor.watch("first")
    supervisor.watch("second")

    supervisor.stop("first")
    second.stop()
    clock.advance(3600.0)
    events = supervisor.check()

    assert events == []
    assert not first.running and not second.running
    assert [supervisor.state(name).state for name in ("first", "second")] == [STOPPED, STOPPED]  # type: ignore[union-attr]
    assert supervisor.finished


def test_a_retry_restarts_a_failed_process_with_a_fresh_crash_count(
    tmp_path: Path, started: list[ManagedProcess]
) -> None:
    clock = Clock()
    process = python(tmp_path, SLEEPER)
    supervisor = supervised(process, started, RestartPolicy(burst=1), clock)
    crash_and_check(supervisor, process)
    assert supervisor.state("job").state == FAILED  # type: ignore[union-attr]

    supervisor.request_retry()
    events = supervisor.check()

    assert [event.kind for event in events] == ["retry", "restarted"]
    assert process.running and supervisor.state("job").restarts == 1  # type: ignore[union-attr]


def test_a_server_that_crashes_is_restarted_on_its_port(tmp_path: Path, started: list[ManagedProcess]) -> None:
    clock = Clock()
    port = free_port()
    code = (
        "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
        f"s.bind(('127.0.0.1', {port})); s.listen()\n"
        "while True:\n c, _ = s.accept(); c.sendall(b'hello'); c.close()"
    )
    process = python(tmp_path, code, name="server", ready=lambda: tcp_exchange(port) == b"hello")
    supervisor = supervised(process, started, RestartPolicy(first_delay=0.5), clock)

    crash_and_check(supervisor, process)
    assert tcp_exchange(port) == b""
    clock.advance(0.5)
    [restarted] = supervisor.check()

    assert restarted.kind == "restarted"
    assert tcp_exchange(port) == b"hello"


def test_a_crash_takes_what_is_left_of_its_process_group_with_it(tmp_path: Path, started: list[ManagedProcess]) -> None:
    clock = Clock()
    child_pid = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time, pathlib; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"pathlib.Path({str(child_pid)!r}).write_text(str(child.pid)); time.sleep(60)"
    )
    process = python(tmp_path, code)
    supervisor = supervised(process, started, RestartPolicy(), clock)
    until(lambda: child_pid.exists() and child_pid.read_text().strip().isdigit())
    orphan = int(child_pid.read_text())
    ticks = start_ticks(orphan)
    assert ticks is not None

    crash_and_check(supervisor, process)

    until(lambda: not process_alive(orphan, ticks))


def test_an_adopted_process_is_watched_and_restarted_as_a_child(tmp_path: Path, started: list[ManagedProcess]) -> None:
    clock = Clock()
    earlier = subprocess.Popen([sys.executable, "-c", SLEEPER], start_new_session=True)
    try:
        ticks = start_ticks(earlier.pid)
        assert ticks is not None
        process = python(tmp_path, SLEEPER)
        started.append(process)
        process.adopt(earlier.pid, ticks)
        supervisor = Supervisor({"job": process}, RestartPolicy(first_delay=1.0), clock=clock)
        supervisor.watch("job", restarts=2)
        assert process.running and process.pid == earlier.pid

        earlier.kill()
        earlier.wait()
        until(lambda: process.crashed)
        [exited] = supervisor.check()
        clock.advance(1.0)
        [restarted] = supervisor.check()
    finally:
        if earlier.poll() is None:
            earlier.kill()
            earlier.wait()

    assert exited.message == "job exited (status unknown); restarting in 1 s"
    assert restarted.kind == "restarted"
    assert process.running and process.pid != earlier.pid and not process.adopted
    assert supervisor.state("job").restarts == 3  # type: ignore[union-attr]
