"""A dead service does not stay dead: the real `sparkctl local` CLI in a subprocess, with real PostgreSQL, Redis,
NATS and the four services as processes, killed with SIGKILL as the kernel would. The LLM behind the stack is
the test double of support.fake_llm. Where a test must see a process down before its supervisor brings it
back, it freezes the supervisor with SIGSTOP rather than racing it; every wait polls with a deadline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, TypeVar

import httpx
import pytest

from sparkctl.local.process import free_port, process_alive, start_ticks
from sparkctl.local.state import ORDER, read_state
from support.fake_llm import FakeLLM
from support.local_cli import Cli, wait_until_gone

pytestmark = pytest.mark.integration

API_KEY = "supervised-key"
FAST_HEARTBEAT = {"SPARKCTL_HEARTBEAT_TTL": "2", "SPARKCTL_HEARTBEAT_EVERY": "0.5"}
T = TypeVar("T")


def poll(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """The first truthy answer of `probe`, asked every 0.2 s until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f} s"
        time.sleep(0.2)


def status(cli: Cli) -> tuple[int, dict[str, Any]]:
    result = cli.run("-o", "json", "local", "status")
    return result.returncode, json.loads(result.stdout)


def service(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(entry for entry in report["services"] if entry["name"] == name)


def sigkill(pid: int) -> None:
    ticks = start_ticks(pid)
    assert ticks is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_until_gone([pid], timeout=10) == []


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    """SIGSTOP a process for the block; SIGCONT whatever happens."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def up(cli: Cli, port: int, fake_llm: FakeLLM, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = cli.up("--api-key", API_KEY, port=port, llm_url=fake_llm.url, env=env)
    assert result.returncode == 0, result.stderr
    return result


def queue_document(endpoint: str) -> str:
    response = httpx.post(
        f"{endpoint}/v1/documents/ingest",
        files=[("files", ("notes.md", b"# Notes\n\nThe supervisor restarts the worker.\n"))],
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["jobs"][0]["id"])


def finished_job(endpoint: str, job_id: str) -> dict[str, Any] | None:
    job = httpx.get(f"{endpoint}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10).json()
    return job if job["status"] in ("completed", "failed") else None


def ready(endpoint: str) -> httpx.Response:
    return httpx.get(f"{endpoint}/ready", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)


def restarted(cli: Cli, name: str, before: int, restarts: int) -> dict[str, Any] | None:
    """The status report once `name` runs again with a pid other than `before` and this restart count."""
    code, report = status(cli)
    entry = service(report, name)
    back = entry["state"] == "running" and entry["pid"] not in (None, before) and entry["restarts"] == restarts
    return report if back and code == 0 else None


def test_a_killed_worker_is_restarted_by_the_detached_supervisor_and_new_jobs_complete(
    cli: Cli, fake_llm: FakeLLM
) -> None:
    port = free_port()
    up(cli, port, fake_llm)
    code, report = status(cli)
    assert code == 0 and report["healthy"], report
    supervisor, worker = report["supervisor"]["pid"], service(report, "worker")["pid"]

    with frozen(supervisor):
        sigkill(worker)
        code, down = status(cli)
        text = cli.run("local", "status")

    assert code == 1 and text.returncode == 1
    assert down["down"] == ["worker"] and not down["healthy"]
    assert service(down, "worker")["state"] == "dead"
    assert down["problem"] == "down: worker (dead)"
    assert "Error: down: worker (dead)" in text.stderr and "sparkctl local logs worker" in text.stderr

    report = poll(lambda: restarted(cli, "worker", worker, 1), 60, "the worker's restart")
    assert service(report, "worker")["last_exit"] == "killed by SIGKILL"
    assert report["supervisor"] == {"pid": supervisor, "running": True}
    assert [service(report, name)["restarts"] for name in ORDER if name != "worker"] == [0] * 6

    endpoint = f"http://127.0.0.1:{port}"
    job_id = queue_document(endpoint)
    job = poll(lambda: finished_job(endpoint, job_id), 60, "the job queued after the restart")
    assert job["status"] == "completed", job


def collected(stream: IO[str]) -> list[str]:
    """The lines of `stream` as they come, read by a thread of their own (the list grows until it ends)."""
    lines: list[str] = []

    def read() -> None:
        for line in stream:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_the_foreground_stack_restarts_a_killed_worker(cli: Cli) -> None:
    argv = cli.argv("local", "up", "--embedder", "hash", "--port", str(free_port()), "--data-dir", str(cli.data_dir))
    foreground = subprocess.Popen(argv, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert foreground.stdout is not None and foreground.stderr is not None
    printed, errors = collected(foreground.stdout), collected(foreground.stderr)
    try:
        state = poll(lambda: (s := read_state(cli.state_file)) and s.ready and s, 60, "the foreground stack's start")
        assert state.supervisor is not None and state.supervisor.pid == foreground.pid
        worker = state.service("worker")
        assert worker is not None
        sigkill(worker.pid)

        def back() -> bool:
            now = read_state(cli.state_file)
            record = now.service("worker") if now else None
            return record is not None and record.pid != worker.pid and record.alive and record.state == "running"

        poll(back, 60, "the worker's restart")
        record = read_state(cli.state_file).service("worker")  # type: ignore[union-attr]
        assert record is not None and (record.restarts, record.last_exit) == (1, "killed by SIGKILL")
        pids = [r.pid for r in read_state(cli.state_file).services]  # type: ignore[union-attr]
        poll(lambda: any("worker restarted (restart 1" in line for line in printed), 30, "the restart's line")

        foreground.send_signal(signal.SIGINT)
        foreground.wait(timeout=60)
    finally:
        if foreground.poll() is None:
            foreground.kill()
    assert foreground.returncode == 0, "".join(errors)
    assert any("worker killed by SIGKILL; restarting in 1 s" in line for line in printed)
    assert wait_until_gone(pids, timeout=1) == []
    assert not cli.state_file.exists()


def test_up_starts_the_worker_of_a_stack_whose_worker_and_supervisor_died(cli: Cli, fake_llm: FakeLLM) -> None:
    port = free_port()
    up(cli, port, fake_llm)
    _, before = status(cli)
    sigkill(before["supervisor"]["pid"])
    sigkill(service(before, "worker")["pid"])
    code, down = status(cli)
    assert code == 1 and down["problem"] == "down: worker (dead), and no supervisor restarts it"

    again = up(cli, port, fake_llm)

    assert f"resuming the local stack at http://127.0.0.1:{port}" in again.stderr
    assert "its supervisor had exited and worker is down" in again.stderr
    code, after = status(cli)
    assert code == 0 and after["healthy"], after
    assert after["supervisor"]["running"] and after["supervisor"]["pid"] != before["supervisor"]["pid"]
    worker = service(after, "worker")
    assert worker["pid"] != service(before, "worker")["pid"]
    assert (worker["restarts"], worker["last_exit"]) == (1, "exited (status unknown)")
    assert [service(after, n)["pid"] for n in ORDER[:-1]] == [service(before, n)["pid"] for n in ORDER[:-1]]
    endpoint = f"http://127.0.0.1:{port}"
    answer = poll(lambda: (r := ready(endpoint)).status_code == 200 and r, 30, "/ready with the resumed worker")
    assert answer.json()["services"]["worker"] == "up"

    second = cli.up("--api-key", API_KEY, port=port, llm_url=fake_llm.url)
    assert second.returncode == 1 and "a local stack is already running" in second.stderr


def test_a_worker_that_keeps_crashing_is_left_failed_and_up_brings_it_back(cli: Cli, fake_llm: FakeLLM) -> None:
    port = free_port()
    up(cli, port, fake_llm, env=FAST_HEARTBEAT)
    endpoint = f"http://127.0.0.1:{port}"
    _, report = status(cli)
    supervisor = report["supervisor"]["pid"]

    for restarts in range(1, 5):
        worker = service(report, "worker")["pid"]
        sigkill(worker)
        report = poll(lambda w=worker, n=restarts: restarted(cli, "worker", w, n), 60, f"restart {restarts}")
    sigkill(service(report, "worker")["pid"])

    def failed() -> dict[str, Any] | None:
        code, report = status(cli)
        return report if code == 1 and service(report, "worker")["state"] == "failed" else None

    report = poll(failed, 30, "the worker being marked failed")
    worker = service(report, "worker")
    assert (worker["restarts"], worker["last_exit"], worker["pid"]) == (4, "killed by SIGKILL", None)
    assert any("worker consuming" in line for line in worker["log_tail"])
    assert report["problem"] == "down: worker (failed, left down; last exit: killed by SIGKILL)"
    assert "sparkctl local up" in report["hint"]
    time.sleep(1.0)
    assert service(status(cli)[1], "worker")["state"] == "failed", "a failed process is not restarted"
    unready = poll(lambda: (r := ready(endpoint)).status_code == 503 and r, 10, "/ready naming the failed worker")
    assert unready.json()["services"]["worker"] == "down"

    again = cli.up("--api-key", API_KEY, port=port, llm_url=fake_llm.url, env=FAST_HEARTBEAT)

    assert again.returncode == 0, again.stderr
    assert f"asked the stack's supervisor (pid {supervisor}) to restart worker now" in again.stderr
    code, report = status(cli)
    assert code == 0 and report["healthy"] and report["supervisor"]["pid"] == supervisor
    assert (service(report, "worker")["state"], service(report, "worker")["restarts"]) == ("running", 5)


def test_ready_names_the_worker_once_its_heartbeat_lapses(cli: Cli, fake_llm: FakeLLM) -> None:
    port = free_port()
    up(cli, port, fake_llm, env=FAST_HEARTBEAT)
    endpoint = f"http://127.0.0.1:{port}"
    poll(lambda: ready(endpoint).status_code == 200, 10, "/ready once the worker beats")
    worker = service(status(cli)[1], "worker")["pid"]
    ticks = start_ticks(worker)
    assert ticks is not None

    with frozen(worker):
        answer = poll(lambda: (r := ready(endpoint)).status_code == 503 and r, 10, "/ready without a heartbeat")
        assert process_alive(worker, ticks), "a stopped worker is not a crashed one: nothing restarts it"

    body = answer.json()
    assert body["status"] == "not ready"
    assert body["services"] == {"postgres": "up", "redis": "up", "nats": "up", "lightrag": "up", "worker": "down"}
    assert body["error"] == {
        "message": "unavailable: worker (no fresh heartbeat in Redis)",
        "type": "api_error",
        "code": "not_ready",
    }
    poll(lambda: ready(endpoint).status_code == 200, 10, "/ready once the worker beats again")
