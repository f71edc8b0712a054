"""One local process: start it, wait until it answers, stop it in order, restart it; or watch one that an earlier
sparkctl started (adopt it by pid and start time)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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
    """A child process in its own session, its output in a log file; or an adopted process of the same spec."""

    def __init__(self, spec: ProcessSpec) -> None:
        self.spec = spec
        self._process: subprocess.Popen[bytes] | None = None
        self._adopted: tuple[int, int] | None = None
        self._log_offset = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        if self._process is not None:
            return self._process.pid if self._process.poll() is None else None
        if self._adopted is not None and process_alive(*self._adopted):
            return self._adopted[0]
        return None

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def adopted(self) -> bool:
        return self._adopted is not None

    @property
    def exit_code(self) -> int | None:
        """The exit status of a child that ended by itself (None while it runs, after `stop`, or when adopted)."""
        return self._process.poll() if self._process is not None else None

    @property
    def crashed(self) -> bool:
        """True when the process was started (or adopted) and ended without `stop`."""
        if self._process is not None:
            return self._process.poll() is not None
        return self._adopted is not None and not process_alive(*self._adopted)

    def adopt(self, pid: int, ticks: int) -> None:
        """Watch the process with this pid and start time, which an earlier sparkctl started from this spec."""
        self._process = None
        self._adopted = (pid, ticks)
        self._log_offset = self.spec.log_path.stat().st_size if self.spec.log_path.exists() else 0

    def reap(self) -> int | None:
        """Forget a process that ended and SIGKILL what is left of its process group (unless its pid already
        names another process); return its exit status if known."""
        code = self.exit_code
        process, adopted = self._process, self._adopted
        self._process, self._adopted = None, None
        leader = process.pid if process is not None else adopted[0] if adopted is not None else None
        if leader is not None and _proc_stat(leader) is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(leader, signal.SIGKILL)
        return code

    def start(
        self, *, on_spawn: Callable[[ManagedProcess], None] | None = None, abort: threading.Event | None = None
    ) -> None:
        """Start the process and return once its readiness probe passes.

        `on_spawn` hears of the process as soon as it exists (to record its pid); setting `abort` stops a
        start that is still waiting for readiness.
        """
        if self.running:
            return
        self._adopted = None
        if self.spec.port is not None:
            ensure_port_free(self.spec.port, self.spec.name)
        if self.spec.prepare is not None:
            self.spec.prepare()
        self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.spec.log_path.open("ab") as log:
            self._log_offset = log.tell()
            self._process = subprocess.Popen(
                list(self.spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.spec.env},
                user=self.spec.user,
                start_new_session=True,
            )
        if on_spawn is not None:
            on_spawn(self)
        self._wait_ready(abort)

    def _wait_ready(self, abort: threading.Event | None) -> None:
        deadline = time.monotonic() + self.spec.start_timeout
        while time.monotonic() < deadline:
            if abort is not None and abort.is_set():
                self.stop()
                raise ProcessError(f"the start of {self.name} was cancelled")
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
        adopted, self._adopted = self._adopted, None
        if adopted is not None:
            stop_pid(*adopted, self.spec.stop_signal, self.spec.stop_timeout)
            return
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
        adopted, self._adopted = self._adopted, None
        if adopted is not None:
            stop_pid(*adopted, signal.SIGKILL, 5.0)
        if process is not None and process.poll() is None:
            _signal_group(process, signal.SIGKILL)
            process.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def output(self) -> str:
        """What the process has written to its log since its last start."""
        try:
            with self.spec.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of this run's output, on one line."""
        tail = [line.strip() for line in self.output().splitlines() if line.strip()][-lines:]
        return " | ".join(tail) or "(no output)"


def describe_exit(code: int | None) -> str:
    """How a process ended, from its exit status (None: not known, as for a process this program did not start)."""
    if code is None:
        return "exited (status unknown)"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exited with code {code}"


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


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) of a process, from /proc/PID/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[19])


def start_ticks(pid: int) -> int | None:
    """When the process with this pid started (clock ticks since boot): with the pid, it names one process."""
    stat = _proc_stat(pid)
    return stat[1] if stat is not None else None


def process_alive(pid: int, ticks: int) -> bool:
    """True while the process that had this pid and start time runs (never a later process given the same pid)."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X") and stat[1] == ticks


def stop_pid(pid: int, ticks: int, sig: signal.Signals, timeout: float, *, group: bool = True) -> None:
    """Stop a process this program did not start: `sig` (to its group), SIGKILL if it is still there after timeout."""
    for current, wait in ((sig, timeout), (signal.SIGKILL, 5.0)):
        if not process_alive(pid, ticks):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            (os.killpg if group else os.kill)(pid, current)
        deadline = time.monotonic() + wait
        while process_alive(pid, ticks) and time.monotonic() < deadline:
            time.sleep(0.05)


def tail_lines(path: Path, count: int) -> list[str]:
    """The last `count` lines of a file, read from its end."""
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            position, data = file.tell(), b""
            while position > 0 and data.count(b"\n") <= count:
                step = min(65536, position)
                position -= step
                file.seek(position)
                data = file.read(step) + data
    except FileNotFoundError:
        return []
    lines = data.decode(errors="replace").splitlines()
    return lines[-count:] if count > 0 else []


def follow_lines(paths: dict[str, Path], interval: float = 0.25) -> Iterator[tuple[str, str]]:
    """(name, line) for every line appended to these files from now on, forever; a truncated file restarts."""
    positions = {name: path.stat().st_size if path.exists() else 0 for name, path in paths.items()}
    partial = dict.fromkeys(paths, b"")
    while True:
        for name, path in paths.items():
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            if size < positions[name]:
                positions[name], partial[name] = 0, b""
            if size == positions[name]:
                continue
            with path.open("rb") as file:
                file.seek(positions[name])
                chunk = partial[name] + file.read(size - positions[name])
            positions[name] = size
            *complete, partial[name] = chunk.split(b"\n")
            for line in complete:
                yield name, line.decode(errors="replace")
        time.sleep(interval)
