"""The local stack's plan and checks, without servers: settings per service, the data directory, ports, stale
state files, purging, stopping a process by pid, and reading logs (with real short-lived processes and files)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparkctl.errors import ConfigError, PortInUse, ProcessError
from sparkctl.local.checks import check_orchestrator_port, prepare_data_dir
from sparkctl.local.plan import StackOptions, service_env
from sparkctl.local.process import follow_lines, free_port, process_alive, start_ticks, stop_pid, tail_lines
from sparkctl.local.stack import LocalStack
from sparkctl.local.state import (
    DATA_MARKER,
    ORDER,
    SERVICES,
    ProcessRecord,
    StackState,
    embedder_label,
    log_files,
    purge_data,
    purge_target,
    read_state,
    write_state,
)
from sparkctl.local.status import stack_status

URLS = {"postgres": "postgresql://pg", "redis": "redis://r", "nats": "nats://n"}
PORTS: dict[str, int | None] = {"lightrag": 9621, "preprocessor": 8090, "orchestrator": 8100, "worker": None}


def options(tmp_path: Path, **overrides: object) -> StackOptions:
    return StackOptions(data_dir=tmp_path / "data", **overrides)  # type: ignore[arg-type]


def a_state(tmp_path: Path, *services: ProcessRecord) -> StackState:
    return StackState(
        data_dir=tmp_path / "data",
        endpoint="http://127.0.0.1:8100",
        embedder="hash",
        llm_url="http://127.0.0.1:11434",
        api_key=False,
        detached=True,
        started_at="2025-06-01T12:00:00+00:00",
        services=list(services),
    )


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "30"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def dead_record(name: str) -> ProcessRecord:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return ProcessRecord(name, finished.pid, 1)


def test_every_service_gets_the_settings_the_chart_sets(tmp_path: Path) -> None:
    env = service_env(options(tmp_path, embedder="hash", llm_url="http://llm:11434"), URLS, PORTS)

    assert set(env) == set(SERVICES)
    for settings in env.values():
        assert settings["SPARKCTL_DATABASE_URL"] == "postgresql://pg"
        assert settings["SPARKCTL_REDIS_URL"] == "redis://r"
        assert settings["SPARKCTL_NATS_URL"] == "nats://n"
        assert settings["SPARKCTL_LIGHTRAG_URL"] == "http://127.0.0.1:9621"
        assert settings["SPARKCTL_PREPROCESSOR_URL"] == "http://127.0.0.1:8090"
        assert settings["SPARKCTL_EMBEDDER"] == "hash"
        assert settings["SPARKCTL_LLM_URL"] == "http://llm:11434"


def test_lightrag_keeps_its_graph_as_networkx_files_in_the_data_dir(tmp_path: Path) -> None:
    env = service_env(options(tmp_path), URLS, PORTS)["lightrag"]

    assert env["SPARKCTL_GRAPH_STORAGE"] == "networkx"
    assert env["SPARKCTL_DATA_DIR"] == str(tmp_path / "data" / "lightrag")
    assert env["SPARKCTL_VECTOR_INDEX"] == "ivfflat"


def test_the_api_key_reaches_the_orchestrator_only(tmp_path: Path) -> None:
    with_key = service_env(options(tmp_path, api_key="s3cret"), URLS, PORTS)
    without = service_env(options(tmp_path), URLS, PORTS)

    assert with_key["orchestrator"]["SPARKCTL_API_KEYS"] == "s3cret"
    assert all("SPARKCTL_API_KEYS" not in with_key[name] for name in SERVICES if name != "orchestrator")
    assert "SPARKCTL_API_KEYS" not in without["orchestrator"]


def test_the_hash_embedder_is_labelled_as_lower_quality() -> None:
    assert embedder_label("hash", "http://x") == "hash (offline, lower quality)"
    assert "http://x" in embedder_label("llm", "http://x")


def test_a_stack_that_is_not_started_shows_every_process_waiting(tmp_path: Path) -> None:
    stack = LocalStack(options(tmp_path))

    assert [(view.name, view.state) for view in stack.views()] == [(name, "waiting") for name in ORDER]
    assert not stack.finished and not stack.ready


def test_a_stale_state_file_is_removed_with_a_notice(tmp_path: Path) -> None:
    path = tmp_path / "local-stack.json"
    write_state(a_state(tmp_path, *(dead_record(name) for name in ORDER)), path)
    stack = LocalStack(options(tmp_path, port=free_port()), path)

    claim = stack.claim()

    try:
        assert len(claim.notices) == 1 and "stale state file" in claim.notices[0] and "2025-06-01" in claim.notices[0]
        claimed = read_state(path)
        assert claimed is not None and claimed.supervisor is not None and claimed.supervisor.pid == os.getpid()
        assert claimed.services == [] and not claim.adopted
    finally:
        stack.stop()
    assert not path.exists()


def test_a_healthy_supervised_stack_is_named_and_its_state_file_kept(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    path = tmp_path / "local-stack.json"
    ticks = start_ticks(sleeper.pid)
    assert ticks is not None
    state = a_state(tmp_path, *(ProcessRecord(name, sleeper.pid, ticks) for name in ORDER))
    state.supervisor, state.ready = ProcessRecord("supervisor", sleeper.pid, ticks), True
    write_state(state, path)

    with pytest.raises(ProcessError) as refused:
        LocalStack(options(tmp_path, port=free_port()), path).claim()

    assert "already running at http://127.0.0.1:8100" in refused.value.message
    assert "sparkctl local down" in refused.value.hint
    assert read_state(path) == state


def test_status_tells_a_stale_state_file_from_a_running_stack(tmp_path: Path) -> None:
    path = tmp_path / "local-stack.json"
    write_state(a_state(tmp_path, dead_record("postgres")), path)

    report = stack_status(path)

    assert report.stale and not report.running
    assert report.services[0].state == "dead" and report.services[0].healthy is False
    assert {view.state for view in report.services[1:]} == {"not started"}
    assert not stack_status(tmp_path / "none.json").stale


def test_a_data_dir_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    with pytest.raises(ConfigError) as refused:
        prepare_data_dir(blocker / "data")

    assert refused.value.message == f"the data directory {blocker / 'data'} is not writable: Not a directory"
    assert "--data-dir" in refused.value.hint


def test_a_taken_orchestrator_port_names_the_port_and_the_option() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(PortInUse) as refused:
            check_orchestrator_port(port)

    assert str(port) in refused.value.message
    assert "--port" in refused.value.hint


def test_purge_deletes_a_data_dir_the_stack_made(tmp_path: Path) -> None:
    data = tmp_path / "data"
    prepare_data_dir(data)
    (data / "postgres").mkdir()

    assert purge_data(data) is True
    assert not data.exists()
    assert purge_data(data) is False


def test_purge_refuses_a_directory_the_stack_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("years of work")

    with pytest.raises(ConfigError, match=DATA_MARKER):
        purge_data(tmp_path)
    assert (tmp_path / "thesis.tex").exists()


def test_stopping_by_pid_escalates_to_sigkill_when_the_signal_is_ignored() -> None:
    stubborn = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; echo trapped; while :; do sleep 0.05; done"],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == b"trapped\n"
        ticks = start_ticks(stubborn.pid)
        assert ticks is not None
        began = time.monotonic()

        stop_pid(stubborn.pid, ticks, signal.SIGTERM, timeout=0.3)

        assert not process_alive(stubborn.pid, ticks)
        assert stubborn.wait(1) == -signal.SIGKILL
        assert time.monotonic() - began < 3
    finally:
        if stubborn.poll() is None:
            os.killpg(stubborn.pid, signal.SIGKILL)
            stubborn.wait()


def test_stopping_by_pid_never_signals_a_process_with_another_start_time(sleeper: subprocess.Popen[bytes]) -> None:
    ticks = start_ticks(sleeper.pid)
    assert ticks is not None

    stop_pid(sleeper.pid, ticks - 1, signal.SIGKILL, timeout=0.1)

    assert sleeper.poll() is None


def test_logs_come_from_the_data_dir_when_no_stack_is_recorded(tmp_path: Path) -> None:
    logs = tmp_path / "data" / "logs"
    logs.mkdir(parents=True)
    (logs / "worker.log").write_text("consuming\n")
    (logs / "nats.log").write_text("ready\n")
    state = tmp_path / "none.json"

    assert log_files(state, tmp_path / "data") == {"nats": logs / "nats.log", "worker": logs / "worker.log"}
    assert log_files(state, tmp_path / "data", "worker") == {"worker": logs / "worker.log"}
    with pytest.raises(ConfigError, match="no logs of redis"):
        log_files(state, tmp_path / "data", "redis")


def test_an_unknown_service_is_refused_listing_the_services(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        log_files(tmp_path / "none.json", tmp_path, "neo4j")
    assert "'neo4j'" in refused.value.message
    assert all(name in refused.value.hint for name in ORDER)


def test_the_tail_of_a_large_log_is_its_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_text("".join(f"line {n}\n" for n in range(100_000)))

    assert tail_lines(log, 3) == ["line 99997", "line 99998", "line 99999"]
    assert tail_lines(log, 0) == []
    assert tail_lines(tmp_path / "missing.log", 3) == []


def test_following_logs_yields_each_new_line_once_even_after_truncation(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("old line\n")
    followed = follow_lines({"worker": log}, interval=0.02)

    def append_later() -> None:
        time.sleep(0.2)
        with log.open("a") as file:
            file.write("first\nsecond ha")
            file.flush()
            time.sleep(0.1)
            file.write("lf\n")
        time.sleep(0.1)
        log.write_text("after rotation\n")

    writer = threading.Thread(target=append_later)
    writer.start()
    lines = [next(followed) for _ in range(3)]
    writer.join()

    assert lines == [("worker", "first"), ("worker", "second half"), ("worker", "after rotation")]


def test_a_recorded_process_keeps_its_stop_signal(tmp_path: Path) -> None:
    record = ProcessRecord("postgres", 1, 1, stop_signal="SIGINT")
    path = tmp_path / "local-stack.json"
    write_state(a_state(tmp_path, record), path)

    loaded = read_state(path)

    assert loaded is not None and loaded.services[0].signal is signal.SIGINT


def test_purge_targets_the_recorded_stacks_data_and_refuses_another(tmp_path: Path) -> None:
    path = tmp_path / "local-stack.json"
    assert purge_target(tmp_path / "mine", path) == tmp_path / "mine"

    write_state(a_state(tmp_path), path)

    assert purge_target(None, path) == tmp_path / "data"
    assert purge_target(tmp_path / "data", path) == tmp_path / "data"
    with pytest.raises(ConfigError, match="keeps its data in"):
        purge_target(tmp_path / "other", path)
