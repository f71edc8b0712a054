"""The local stack's state file, and how a recorded process is recognised (real short-lived processes)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparkctl.errors import ConfigError
from sparkctl.local.process import start_ticks
from sparkctl.local.state import ProcessRecord, StackState, read_state, running_endpoint, write_state


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "30"])
    yield process
    process.kill()
    process.wait()


def record_of(process: subprocess.Popen[bytes], name: str = "orchestrator") -> ProcessRecord:
    ticks = start_ticks(process.pid)
    assert ticks is not None
    return ProcessRecord(name, process.pid, ticks, port=8100, log=Path("/tmp/orchestrator.log"))


def a_state(*services: ProcessRecord) -> StackState:
    return StackState(
        data_dir=Path("/data"),
        endpoint="http://127.0.0.1:8100",
        embedder="hash",
        llm_url="http://127.0.0.1:11434",
        api_key=True,
        detached=True,
        started_at="2025-06-01T12:00:00+00:00",
        services=list(services),
        ready=True,
    )


def test_a_recorded_process_is_recognised_by_its_pid_and_start_time(sleeper: subprocess.Popen[bytes]) -> None:
    record = record_of(sleeper)

    assert record.alive
    assert not ProcessRecord("orchestrator", sleeper.pid, record.start_ticks + 1).alive

    sleeper.kill()
    sleeper.wait()
    assert not record.alive


def test_a_process_that_ended_but_was_not_reaped_counts_as_gone() -> None:
    finished = subprocess.Popen(["true"])
    ticks = start_ticks(finished.pid)
    for _ in range(200):
        if Path(f"/proc/{finished.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.01)
    try:
        assert ticks is not None
        assert not ProcessRecord("worker", finished.pid, ticks).alive
    finally:
        finished.wait()


def test_the_state_round_trips_and_says_whether_a_key_is_required_never_which(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    state = a_state(record_of(sleeper))
    path = tmp_path / "local-stack.json"

    write_state(state, path)

    assert read_state(path) == state
    stored = json.loads(path.read_text())
    assert stored["version"] == 1 and stored["api_key"] is True
    assert set(stored["services"][0]) == {
        "name", "pid", "start_ticks", "port", "log", "stop_signal", "stop_timeout",
        "state", "restarts", "last_exit", "exited_at",
    }  # fmt: skip


def test_a_state_file_is_stale_when_none_of_its_processes_runs(sleeper: subprocess.Popen[bytes]) -> None:
    state = a_state(record_of(sleeper))
    assert not state.stale and state.alive() == state.services

    sleeper.kill()
    sleeper.wait()
    assert state.stale and state.alive() == []


def test_an_exclusive_write_refuses_to_replace_a_state_file(tmp_path: Path) -> None:
    path = tmp_path / "local-stack.json"
    write_state(a_state(), path, exclusive=True)

    with pytest.raises(FileExistsError):
        write_state(a_state(), path, exclusive=True)
    assert [p.name for p in tmp_path.iterdir()] == ["local-stack.json"]


def test_an_unreadable_state_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "local-stack.json"
    path.write_text('{"endpoint": ')

    with pytest.raises(ConfigError) as refused:
        read_state(path)
    assert str(path) in refused.value.message
    assert "sparkctl local down" in refused.value.hint
    assert read_state(tmp_path / "missing.json") is None


def test_the_endpoint_is_offered_to_ingest_and_chat_only_while_the_orchestrator_runs(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    path = tmp_path / "local-stack.json"
    write_state(a_state(record_of(sleeper)), path)
    assert running_endpoint(path) == "http://127.0.0.1:8100"

    sleeper.kill()
    sleeper.wait()
    assert running_endpoint(path) is None

    path.write_text("not json")
    assert running_endpoint(path) is None
    assert running_endpoint(tmp_path / "missing.json") is None
