"""One supervised local process: start it, wait until it answers, stop it in order, restart it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sparkctl.errors import PortInUse, ProcessError

Probe = Callable[[], bool]


@dataclass
class ProcessSpec:
    """How to run one server: its command, its port, and how to tell that it is ready."""

    name: str
    argv: Sequence[str]
    port: int | None
    log_path: Path
    ready: Probe
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    prepare: Callable[[], None] | None = None
    start_timeout: float = 30.0
    stop_timeout: float = 10.0
    stop_signal: signal.Signals = signal.SIGTERM


class ManagedProcess:
    """A child process in its own session, its output in a log file."""

    def __init__(self, spec: ProcessSpec) -> None:
        self.spec = spec
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the process and return once its readiness probe passes."""
        if self.running:
            return
        if self.spec.port is not None:
            ensure_port_free(self.spec.port, self.spec.name)
        if self.spec.prepare is not None:
            self.spec.prepare()
        self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.spec.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                list(self.spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.spec.env},
                user=self.spec.user,
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.spec.start_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise ProcessError(
                    f"{self.name} exited during start: {self.log_tail()}",
                    hint=f"See the whole log in {self.spec.log_path}.",
                )
            if self.spec.ready():
                return
            time.sleep(0.05)
        self.stop()
        raise ProcessError(
            f"{self.name} did not become ready within {self.spec.start_timeout:.0f} s: {self.log_tail()}",
            hint=f"See the whole log in {self.spec.log_path}.",
        )

    def stop(self) -> None:
        """The stop signal to the process group, then SIGKILL if it does not leave in time."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        _signal_group(process, self.spec.stop_signal)
        try:
            process.wait(self.spec.stop_timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(5)

    def kill(self) -> None:
        """Stop abruptly, as a crash would."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            _signal_group(process, signal.SIGKILL)
            process.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.spec.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no output)"
        tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
        return " | ".join(tail) or "(no output)"


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def ensure_port_free(port: int, owner: str, host: str = "127.0.0.1") -> None:
    """PortInUse when something already listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        if probe.connect_ex((host, port)) == 0:
            raise PortInUse(
                f"port {port} on {host}, needed by {owner}, is already in use",
                hint=f"Stop what listens there (ss -ltnp 'sport = :{port}') or choose other ports.",
            )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tcp_exchange(port: int, send: bytes = b"", host: str = "127.0.0.1", timeout: float = 0.5) -> bytes:
    """Connect, optionally send, and return the first bytes the server says (b"" when it does not answer)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if send:
                sock.sendall(send)
            return sock.recv(4096)
    except OSError:
        return b""
