"""`sparkctl local up|down|status|logs` as a user runs them: the real CLI in a subprocess, starting real
PostgreSQL, Redis, NATS and the four services as processes. The LLM behind the stack, where one is needed,
is the test double of support.fake_llm. HOME and the XDG directories point into tmp_path, so the state file
never touches the real home; every test stops what it started, whatever happens."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from typing import Any

import httpx
import pytest

from sparkctl.local.checks import llm_warning, prepare_data_dir
from sparkctl.local.process import free_port
from sparkctl.local.state import ORDER, read_state
from support.fake_llm import FakeLLM
from support.llama_server import LlamaServer
from support.local_cli import Cli, processes_writing_to, wait_until_gone

pytestmark = pytest.mark.integration

API_KEY = "local-key"


def wait_until_ready(cli: Cli, foreground: subprocess.Popen) -> list[int]:
    """The pids of a foreground stack, once its state file says every service is ready."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert foreground.poll() is None, foreground.stderr.read() if foreground.stderr else ""
        state = read_state(cli.state_file)
        if state is not None and state.ready:
            assert all(record.alive for record in state.services)
            return [record.pid for record in state.services]
        time.sleep(0.1)
    raise AssertionError("the foreground stack did not get ready within 60 s")


def write_dead_state(cli: Cli) -> None:
    """A state file such as a crashed run leaves: every pid in it belongs to a process that has ended."""
    finished = subprocess.Popen(["true"])
    finished.wait()
    record = {"pid": finished.pid, "start_ticks": 1, "port": None, "log": None}
    state = {
        "version": 1,
        "data_dir": str(cli.data_dir),
        "endpoint": "http://127.0.0.1:1",
        "embedder": "hash",
        "llm_url": "http://127.0.0.1:9",
        "api_key": False,
        "detached": True,
        "started_at": "2025-01-01T00:00:00+00:00",
        "ready": True,
        "supervisor": None,
        "services": [{**record, "name": name} for name in ORDER],
    }
    cli.state_file.parent.mkdir(parents=True)
    cli.state_file.write_text(json.dumps(state))


def queue_document(endpoint: str) -> str:
    response = httpx.post(
        f"{endpoint}/v1/documents/ingest",
        files=[("files", ("notes.md", b"# Notes\n\nSparkctl runs LightRAG on the Spark.\n"))],
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["jobs"][0]["id"])


def wait_for_job(endpoint: str, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = httpx.get(f"{endpoint}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {API_KEY}"}).json()
        if job["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_a_detached_stack_serves_reports_stops_and_comes_back_with_its_data(cli: Cli, fake_llm: FakeLLM) -> None:
    write_dead_state(cli)
    port = free_port()

    started = cli.up("--api-key", API_KEY, port=port, llm_url=fake_llm.url)
    assert started.returncode == 0, started.stderr
    assert "stale state file" in started.stderr
    assert "hash (offline, lower quality)" in started.stdout

    status = cli.status()
    assert status["running"] and not status["stale"] and status["api_key"] is True
    assert status["endpoint"] == f"http://127.0.0.1:{port}"
    assert [(s["name"], s["state"], s["healthy"]) for s in status["services"]] == [
        (name, "running", True) for name in ORDER
    ]
    assert API_KEY not in cli.state_file.read_text()
    [server] = status["model_servers"]
    assert server["reachable"] and server["url"] == fake_llm.url.removeprefix("http://")
    assert server["models"] == ["fake:latest"] and server["context"]
    text = cli.run("local", "status")
    assert f"model server {server['url']}: 1 model(s) listed; context: " in text.stdout
    endpoint = status["endpoint"]
    assert httpx.get(f"{endpoint}/health").status_code == 200
    assert httpx.get(f"{endpoint}/v1/jobs").status_code == 401

    job = wait_for_job(endpoint, queue_document(endpoint))
    assert job["status"] == "completed", job

    logs = cli.run("local", "logs", "orchestrator")
    assert logs.returncode == 0 and "/v1/documents/ingest" in logs.stdout

    pids = [s["pid"] for s in status["services"]]
    stopped = cli.run("local", "down")
    assert stopped.returncode == 0, stopped.stderr
    assert "Stopped the local stack." in stopped.stdout and f"Data kept in {cli.data_dir}" in stopped.stdout
    assert wait_until_gone(pids) == []
    assert not cli.state_file.exists()
    assert (cli.data_dir / "postgres" / "PG_VERSION").is_file()

    again = cli.up("--api-key", API_KEY, port=port, llm_url=fake_llm.url)
    assert again.returncode == 0, again.stderr
    listed = cli.run("-o", "json", "jobs", "list", env={"SPARKCTL_API_KEY": API_KEY})
    assert listed.returncode == 0, listed.stderr
    assert [(j["id"], j["status"]) for j in json.loads(listed.stdout)] == [(job["id"], "completed")]

    purged = cli.run("local", "down", "--purge", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert f"Deleted {cli.data_dir}." in purged.stdout
    assert not cli.data_dir.exists() and not cli.state_file.exists()
    assert processes_writing_to(cli.data_dir) == []


def test_a_missing_llm_is_a_warning_and_a_second_up_names_the_running_stack(cli: Cli) -> None:
    port, closed = free_port(), free_port()

    first = cli.up(port=port, llm_url=f"http://127.0.0.1:{closed}")
    second = cli.up(port=free_port())

    assert first.returncode == 0, first.stderr
    assert f"Warning: no LLM server answers at http://127.0.0.1:{closed}" in first.stderr
    assert "--embedder hash" not in first.stderr and "Error" not in first.stderr
    assert second.returncode == 1
    assert f"a local stack is already running at http://127.0.0.1:{port}" in second.stderr
    assert "sparkctl local down" in second.stderr
    status = cli.status()
    assert status["running"]
    [server] = status["model_servers"]
    assert not server["reachable"] and server["error"] and server["url"] == f"127.0.0.1:{closed}"
    text = cli.run("local", "status").stdout
    assert f"model server 127.0.0.1:{closed}: unreachable" in text and "ollama serve" in text


def test_the_foreground_stack_stops_everything_cleanly_on_ctrl_c(cli: Cli) -> None:
    argv = cli.argv("local", "up", "--embedder", "hash", "--port", str(free_port()), "--data-dir", str(cli.data_dir))
    foreground = subprocess.Popen(argv, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pids = wait_until_ready(cli, foreground)
        assert len(pids) == len(ORDER)

        foreground.send_signal(signal.SIGINT)
        _, err = foreground.communicate(timeout=60)
    finally:
        if foreground.poll() is None:
            foreground.kill()
    assert foreground.returncode == 0, err
    assert wait_until_gone(pids, timeout=1) == []
    assert not cli.state_file.exists()
    assert "database system is shut down" in (cli.data_dir / "logs" / "postgres.log").read_text()


def test_down_stops_a_foreground_stack_through_its_supervisor(cli: Cli) -> None:
    argv = cli.argv("local", "up", "--embedder", "hash", "--port", str(free_port()), "--data-dir", str(cli.data_dir))
    foreground = subprocess.Popen(argv, env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        pids = wait_until_ready(cli, foreground)

        stopped = cli.run("local", "down")

        assert stopped.returncode == 0, stopped.stderr
        assert f"stopping sparkctl local up (pid {foreground.pid})" in stopped.stderr
        assert foreground.wait(timeout=30) == 0
    finally:
        if foreground.poll() is None:
            foreground.kill()
    assert wait_until_gone(pids, timeout=1) == []
    assert not cli.state_file.exists()


def test_a_taken_orchestrator_port_is_named_with_the_option_to_change_it(cli: Cli) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        result = cli.up(port=port)

    assert result.returncode == 1
    assert f"Error: port {port}, where the orchestrator would listen, is already in use" in result.stderr
    assert "--port" in result.stderr
    assert not cli.state_file.exists()
    assert processes_writing_to(cli.data_dir) == []


def test_a_service_that_cannot_start_is_named_with_its_log_and_nothing_is_left_running(cli: Cli) -> None:
    result = cli.up(port=free_port(), env={"SPARKCTL_MAX_WORKSPACES": "0"})

    assert result.returncode == 1
    assert "Error: lightrag exited during start" in result.stderr
    assert "max_workspaces" in result.stderr
    assert str(cli.data_dir / "logs" / "lightrag.log") in result.stderr
    assert not cli.state_file.exists()
    assert wait_until_gone(processes_writing_to(cli.data_dir), timeout=5) == []


def test_status_reports_a_stale_state_file_and_down_removes_it(cli: Cli) -> None:
    write_dead_state(cli)

    reported = cli.run("-o", "json", "local", "status")
    text = cli.run("local", "status")
    stopped = cli.run("local", "down")

    status = json.loads(reported.stdout)
    assert reported.returncode == 1 and text.returncode == 1
    assert status["stale"] and not status["running"] and not status["healthy"]
    assert {s["state"] for s in status["services"]} == {"dead"}
    assert "is stale" in text.stderr and "is stale" in status["problem"]
    assert stopped.returncode == 0 and "removed its stale state file" in stopped.stdout
    assert not cli.state_file.exists()


def test_a_data_dir_under_a_file_is_named_as_not_writable(cli: Cli) -> None:
    blocker = cli.root / "a-file"
    blocker.write_text("")

    result = cli.run(
        "local", "up", "-d", "--embedder", "hash", "--port", str(free_port()), "--data-dir", str(blocker / "data")
    )

    assert result.returncode == 1
    assert f"Error: the data directory {blocker / 'data'} is not writable" in result.stderr
    assert "--data-dir" in result.stderr
    assert not cli.state_file.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through a 0o500 directory; the test above covers the check")
def test_a_read_only_data_dir_is_named_as_not_writable(cli: Cli) -> None:
    read_only = cli.root / "read-only"
    read_only.mkdir(mode=0o500)

    result = cli.run(
        "local", "up", "-d", "--embedder", "hash", "--port", str(free_port()), "--data-dir", str(read_only)
    )

    assert result.returncode == 1
    assert f"Error: the data directory {read_only} is not writable: Permission denied" in result.stderr


def test_purge_without_a_running_stack_still_removes_the_data(cli: Cli) -> None:
    prepare_data_dir(cli.data_dir)
    (cli.data_dir / "logs").mkdir()
    (cli.data_dir / "logs" / "worker.log").write_text("kept until purged\n")

    declined = subprocess.run(
        cli.argv("local", "down", "--purge", "--data-dir", str(cli.data_dir)),
        env=cli.env,
        input="n\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert declined.returncode == 1 and cli.data_dir.exists()

    purged = cli.run("local", "down", "--purge", "--yes", "--data-dir", str(cli.data_dir))
    assert purged.returncode == 0, purged.stderr
    assert "No local stack is running." in purged.stdout and f"Deleted {cli.data_dir}." in purged.stdout
    assert not cli.data_dir.exists()


def test_the_llm_probe_knows_ollama_and_openai_compatible_servers(fake_llm: FakeLLM) -> None:
    closed = f"http://127.0.0.1:{free_port()}"

    assert llm_warning(fake_llm.url, "llm") is None
    assert llm_warning(f"{fake_llm.url}/v1", "llm") is None
    assert "--embedder hash" in (llm_warning(closed, "llm") or "")
    assert "work with the hash embedder" in (llm_warning(closed, "hash") or "")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands PostgreSQL to another user")
def test_as_root_a_data_dir_closed_to_others_is_refused_and_not_opened(cli: Cli) -> None:
    closed = cli.root / "closed"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)

    port = str(free_port())
    result = cli.run("local", "up", "-d", "--embedder", "hash", "--port", port, "--data-dir", str(closed / "data"))

    assert result.returncode == 1
    assert f"cannot reach {closed / 'data' / 'postgres'}" in result.stderr
    assert f"{closed} is closed to other users" in result.stderr
    assert closed.stat().st_mode & 0o777 == 0o700, "sparkctl never opens a folder for PostgreSQL"


def test_keys_from_the_environment_are_required_and_said_so(cli: Cli, fake_llm: FakeLLM) -> None:
    port = free_port()
    started = cli.up(port=port, llm_url=fake_llm.url, env={"SPARKCTL_API_KEYS": "env-key"})
    assert started.returncode == 0, started.stderr

    status = cli.status()
    refused = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=10)
    allowed = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": "Bearer env-key"}, timeout=10)

    assert status["api_key"] is True
    assert refused.status_code == 401
    assert allowed.status_code == 200


def test_up_refuses_an_embedder_of_another_size_than_the_catalogs(cli: Cli, llama_server: LlamaServer) -> None:
    result = cli.run(
        "local", "up", "-d", "--embedder", "llm", "--port", str(free_port()),
        "--data-dir", str(cli.data_dir), "--llm-url", llama_server.url,
    )  # fmt: skip

    assert result.returncode == 1, result.stdout
    assert "returned 576-dimensional embeddings from qwen3-embedding:0.6b; models.toml says 1024" in result.stderr
    assert "--embedder hash" in result.stderr
    assert not cli.state_file.exists()
    assert wait_until_gone(processes_writing_to(cli.data_dir), timeout=5) == []
