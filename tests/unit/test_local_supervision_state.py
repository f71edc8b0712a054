"""What `local up` does with the state file it finds (resume a stack whose supervisor died, ask a live supervisor to
restart what is down, clear a start that was cut short) and what `local status` says is down. The recorded
processes are real short-lived processes; nothing is started but them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sparkctl.errors import ConfigError, ProcessError
from sparkctl.local.plan import StackOptions
from sparkctl.local.process import free_port, process_alive, start_ticks
from sparkctl.local.stack import LocalStack
from sparkctl.local.state import ORDER, ProcessRecord, StackState, log_files, read_state, write_state
from sparkctl.local.status import stack_status
from sparkctl.local.supervisor import FAILED, RESTARTING, RUNNING

PORTS = {"postgres": 5501, "redis": 5502, "nats": 5503, "lightrag": 5504, "preprocessor": 5505, "orchestrator": 8100}


def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start real processes in sessions of their own; all are killed at the end."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(code: str = "import time; time.sleep(60)") -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()


def record(name: str, process: subprocess.Popen[bytes], **fields: object) -> ProcessRecord:
    ticks = start_ticks(process.pid)
    assert ticks is not None
    return ProcessRecord(name, process.pid, ticks, port=PORTS.get(name), **fields)  # type: ignore[arg-type]


def dead(name: str, **fields: object) -> ProcessRecord:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return ProcessRecord(name, finished.pid, 1, port=PORTS.get(name), **fields)  # type: ignore[arg-type]


def a_state(tmp_path: Path, services: list[ProcessRecord], supervisor: ProcessRecord | None, **fields: object) -> Path:
    state = StackState(
        data_dir=tmp_path / "data",
        endpoint="http://127.0.0.1:8100",
        embedder="hash",
        llm_url="http://127.0.0.1:11434",
        api_key=False,
        detached=True,
        started_at="2025-06-01T12:00:00+00:00",
        supervisor=supervisor,
        services=services,
        ready=True,
    )
    path = tmp_path / "local-stack.json"
    write_state(replace(state, **fields), path)  # type: ignore[arg-type]
    return path


def test_a_stack_whose_supervisor_died_is_resumed_adopting_what_still_runs(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    running = {name: spawn() for name in ORDER if name != "worker"}
    services = [record(name, process) for name, process in running.items()]
    path = a_state(tmp_path, [*services, dead("worker", restarts=1)], dead("supervisor"))
    stack = LocalStack(StackOptions(tmp_path / "other", port=free_port()), path)

    claim = stack.claim()

    assert claim.adopted == tuple(name for name in ORDER if name != "worker") and not claim.retried
    assert claim.notices == [
        f"resuming the local stack at http://127.0.0.1:8100 (data in {tmp_path / 'data'}): its supervisor had "
        "exited and worker is down"
    ]
    assert stack.options.port == 8100 and stack.options.data_dir == tmp_path / "data"
    claimed = read_state(path)
    assert claimed is not None and claimed.supervisor is not None
    assert claimed.supervisor.pid == os.getpid() and claimed.detached is False
    assert {view.name: (view.state, view.pid) for view in stack.views()} == {
        **{name: ("running", process.pid) for name, process in running.items()},
        "worker": ("waiting", None),
    }
    assert all(process.poll() is None for process in running.values())


def test_resuming_a_stack_that_requires_a_key_needs_the_key(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    process = spawn()
    path = a_state(tmp_path, [record(name, process) for name in ORDER], None, api_key=True)

    with pytest.raises(ConfigError) as refused:
        LocalStack(StackOptions(tmp_path / "data"), path).claim()

    assert refused.value.message == (
        "the local stack at http://127.0.0.1:8100 requires an API key, and none was given to pass on to it"
    )
    assert "--api-key" in refused.value.hint


def test_a_stack_whose_start_was_cut_short_is_cleared_and_started_afresh(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    leftover = spawn()
    left = record("postgres", leftover)
    path = a_state(tmp_path, [left], dead("supervisor"), ready=False)
    stack = LocalStack(StackOptions(tmp_path / "data", port=free_port()), path)

    claim = stack.claim()

    try:
        assert claim.notices == [
            "stopped what was left of the stack started 2025-06-01T12:00:00+00:00, whose start was cut short"
        ]
        assert not process_alive(left.pid, left.start_ticks)
        claimed = read_state(path)
        assert claimed is not None and claimed.services == [] and claimed.started_at != "2025-06-01T12:00:00+00:00"
    finally:
        stack.stop()


def test_a_live_supervisor_is_asked_to_restart_what_is_down_and_up_waits_for_it(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    asked, listening = tmp_path / "asked", tmp_path / "listening"
    supervisor = spawn(
        "import pathlib, signal, time\n"
        f"signal.signal(signal.SIGUSR1, lambda *_: pathlib.Path({str(asked)!r}).write_text('retry'))\n"
        f"pathlib.Path({str(listening)!r}).touch(); time.sleep(60)"
    )
    until(listening.exists)
    process = spawn()
    services = [record(name, process) for name in ORDER if name != "worker"]
    failed = dead("worker", state=FAILED, restarts=4, last_exit="exited with code 1")
    path = a_state(tmp_path, [*services, failed], record("supervisor", supervisor))
    stack = LocalStack(StackOptions(tmp_path / "data"), path)

    claim = stack.claim()

    assert claim.retried == ("worker",) and claim.supervisor == supervisor.pid
    until(asked.exists)
    worker = spawn()
    state = read_state(path)
    assert state is not None
    state.services = [*services, record("worker", worker, state=RUNNING, restarts=5, last_exit="exited with code 1")]
    write_state(state, path)
    stack.await_recovery(claim, timeout=5)


def test_waiting_on_a_live_supervisor_names_a_process_that_failed_again(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    listening = tmp_path / "listening"
    supervisor = spawn(
        "import pathlib, signal, time; signal.signal(signal.SIGUSR1, signal.SIG_IGN); "
        f"pathlib.Path({str(listening)!r}).touch(); time.sleep(60)"
    )
    until(listening.exists)
    process = spawn()
    services = [record(name, process) for name in ORDER if name != "worker"]
    path = a_state(tmp_path, [*services, dead("worker", state=FAILED, restarts=4)], record("supervisor", supervisor))
    stack = LocalStack(StackOptions(tmp_path / "data"), path)
    claim = stack.claim()
    state = read_state(path)
    assert state is not None
    state.services = [*services, dead("worker", state=RESTARTING, restarts=5, last_exit="exited with code 1")]
    write_state(state, path)

    with pytest.raises(ProcessError) as failed:
        stack.await_recovery(claim, timeout=5)

    assert failed.value.message == "worker (exited with code 1) did not start again"
    assert "`sparkctl local logs worker`" in failed.value.hint


def test_status_names_a_failed_process_with_its_last_exit_and_its_log(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    log = tmp_path / "worker.log"
    log.write_text("starting\nTraceback (most recent call last):\nRuntimeError: no queue\n")
    process = spawn()
    services = [record(name, process) for name in ORDER if name != "worker"]
    failed = dead("worker", state=FAILED, restarts=4, last_exit="exited with code 1")
    path = a_state(tmp_path, [*services, replace(failed, log=log)], record("supervisor", process))

    report = stack_status(path)
    trouble = report.trouble()

    assert report.down == ["worker"] and not report.healthy and report.running
    worker = report.services[-1]
    assert (worker.state, worker.restarts, worker.last_exit) == ("failed", 4, "exited with code 1")
    assert worker.log_tail[-1] == "RuntimeError: no queue"
    assert trouble is not None
    assert trouble.message == "down: worker (failed, left down; last exit: exited with code 1)"
    assert "`sparkctl local logs worker`" in trouble.hint and "`sparkctl local up`" in trouble.hint


def test_status_says_a_restarting_process_is_down_until_it_is_back(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    process = spawn()
    services = [record(name, process) for name in ORDER if name != "worker"]
    waiting = dead("worker", state=RESTARTING, restarts=1, last_exit="killed by SIGKILL")
    path = a_state(tmp_path, [*services, waiting], record("supervisor", process))

    trouble = stack_status(path).trouble()

    assert trouble is not None
    assert trouble.message == "down: worker (restarting, restart 2; last exit: killed by SIGKILL)"
    assert "local up" not in trouble.hint


def test_status_says_when_no_supervisor_watches_a_running_stack(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    process = spawn()
    gone = dead("supervisor")
    path = a_state(tmp_path, [record(name, process) for name in ORDER], gone)

    report = stack_status(path)
    trouble = report.trouble()

    assert report.down == [] and not report.healthy
    assert trouble is not None
    assert trouble.message == (
        f"no supervisor watches the local stack (pid {gone.pid} has exited): a process that crashes is not restarted"
    )
    assert trouble.hint == "`sparkctl local up` starts a supervisor again."


def test_status_of_a_dead_process_without_a_supervisor_says_nothing_restarts_it(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    process = spawn()
    services = [record(name, process) for name in ORDER if name != "worker"]
    path = a_state(tmp_path, [*services, dead("worker")], None)

    trouble = stack_status(path).trouble()

    assert trouble is not None
    assert trouble.message == "down: worker (dead), and no supervisor restarts it"


def test_status_of_a_supervised_stack_whose_every_process_runs_is_healthy(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    process = spawn()
    path = a_state(tmp_path, [replace(record(name, process), port=None) for name in ORDER], record("sup", process))

    report = stack_status(path)

    assert report.healthy and report.trouble() is None and report.down == []
    assert stack_status(tmp_path / "none.json").healthy


def test_the_detached_supervisors_log_is_one_of_the_stacks_logs(tmp_path: Path) -> None:
    logs = tmp_path / "data" / "logs"
    logs.mkdir(parents=True)
    (logs / "supervisor.log").write_text("worker killed by SIGKILL; restarting in 1 s\n")
    (logs / "worker.log").write_text("worker consuming\n")

    found = log_files(tmp_path / "none.json", tmp_path / "data")

    assert found == {"worker": logs / "worker.log", "supervisor": logs / "supervisor.log"}
    assert log_files(tmp_path / "none.json", tmp_path / "data", "supervisor") == {"supervisor": logs / "supervisor.log"}
