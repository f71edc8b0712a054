"""The sparkctl CLI run as a user runs it, in a subprocess with a private HOME, for tests of the local stack."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sparkctl.local.process import process_alive, start_ticks


class Cli:
    """Runs `python -m sparkctl` with a private HOME; knows where the state file and the data live."""

    def __init__(self, root: Path, data_dir: Path) -> None:
        self.root = root
        self.data_dir = data_dir
        self.state_file = root / "state" / "sparkctl" / "local-stack.json"
        self.env = {
            **os.environ,
            "HOME": str(root / "home"),
            "XDG_STATE_HOME": str(root / "state"),
            "XDG_DATA_HOME": str(root / "xdg-data"),
            "XDG_CONFIG_HOME": str(root / "config"),
            "COLUMNS": "200",
        }
        for variable in ("SPARKCTL_ENDPOINT", "SPARKCTL_API_KEY"):
            self.env.pop(variable, None)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "sparkctl", *args]

    def run(self, *args: str, timeout: float = 90, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(*args), env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=timeout
        )

    def up(
        self, *args: str, port: int, llm_url: str = "http://127.0.0.1:9", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        return self.run(
            "local",
            "up",
            "--detach",
            "--embedder",
            "hash",
            "--port",
            str(port),
            "--data-dir",
            str(self.data_dir),
            "--llm-url",
            llm_url,
            *args,
            env=env,
        )

    def status(self) -> dict[str, Any]:
        result = self.run("-o", "json", "local", "status")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def processes_writing_to(folder: Path) -> list[int]:
    """Pids whose stdout is a file under `folder`: the stack's processes all log into data_dir/logs."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                target = os.readlink(entry / "fd" / "1")
            except OSError:
                continue
            if target.startswith(str(folder)):
                found.append(int(entry.name))
    return found


def wait_until_gone(pids: list[int], timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    ticks = {pid: start_ticks(pid) for pid in pids}
    while time.monotonic() < deadline:
        left = [pid for pid, tick in ticks.items() if tick is not None and process_alive(pid, tick)]
        if not left:
            return []
        time.sleep(0.1)
    return left


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """The data directory lies outside pytest's own temporary root, which every new pytest session makes 0o700:
    as root, PostgreSQL runs as another user and must be able to reach its data."""
    outside = Path(tempfile.mkdtemp(prefix="sparkctl-local-test-"))
    outside.chmod(0o755)
    runner = Cli(tmp_path, outside / "data")
    try:
        yield runner
    finally:
        runner.run("local", "down", timeout=60)
        for pid in processes_writing_to(outside):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(outside, ignore_errors=True)
