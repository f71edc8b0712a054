"""A host behind SSH (paramiko), with OpenSSH's `StrictHostKeyChecking=accept-new` against sparkctl's known_hosts.

A command that overran or was interrupted is stopped on the host, with its children (remote_process.py).

paramiko is imported on first connection, so that `sparkctl --help` does not pay for it.
"""

from __future__ import annotations

import contextlib
import getpass
import shlex
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkctl.errors import AuthenticationFailed, ConfigError, HostError, HostKeyMismatch, HostUnreachable
from sparkctl.hosts import (
    HostSpec,
    OutputCallback,
    Overran,
    PasswordProvider,
    PosixHost,
    RawResult,
    StreamDecoder,
    tail,
)
from sparkctl.paths import config_dir
from sparkctl.remote_process import REPORT_PID, STOP_SCRIPT, PidThenOutput, Sink

if TYPE_CHECKING:
    import paramiko

_POLL_SECONDS = 0.005
_MAX_SESSIONS = 8
"""Commands at once on one connection: below OpenSSH's default MaxSessions (10), which refuses the rest."""

_STOP_SECONDS = 15.0
_PID_WAIT_SECONDS = 2.0


def default_known_hosts() -> Path:
    return config_dir() / "known_hosts"


def known_hosts_name(spec: HostSpec) -> str:
    """The name a host's key is recorded under: `host`, or `[host]:port` off port 22, as OpenSSH writes it."""
    return spec.host if spec.port == 22 else f"[{spec.host}]:{spec.port}"


class _AcceptNewHostKeys:
    """paramiko's missing-host-key policy: record an unknown host's key in our file and go on."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existing = self.path.read_bytes() if self.path.exists() else b""
        separator = b"" if not existing or existing.endswith(b"\n") else b"\n"
        with self.path.open("ab") as file:
            file.write(separator + f"{hostname} {key.get_name()} {key.get_base64()}\n".encode())
        client.get_host_keys().add(hostname, key.get_name(), key)


def _recorded_lines(path: Path, hostname: str) -> list[int]:
    """Line numbers of `path` that hold a key for `hostname` (plain or hashed entries)."""
    from paramiko.hostkeys import HostKeys

    numbers = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        for pattern in fields[0].split(","):
            if pattern == hostname or (pattern.startswith("|1|") and HostKeys.hash_host(hostname, pattern) == pattern):
                numbers.append(number)
                break
    return numbers


class SSHHost(PosixHost):
    """A machine reached over SSH; connects on first use, reconnects after close()."""

    def __init__(
        self,
        spec: HostSpec | str,
        identity: Path | None = None,
        known_hosts: Path | None = None,
        sudo_password: PasswordProvider | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        super().__init__(sudo_password=sudo_password)
        self.spec = spec if isinstance(spec, HostSpec) else HostSpec.parse(spec)
        self.identity = identity
        self.known_hosts = known_hosts if known_hosts is not None else default_known_hosts()
        self.connect_timeout = connect_timeout
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()
        self._sessions = threading.BoundedSemaphore(_MAX_SESSIONS)

    @property
    def name(self) -> str:
        return str(self.spec)

    @property
    def user(self) -> str:
        """The login name: the spec's, else the local user's, as OpenSSH does."""
        return self.spec.user or getpass.getuser()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _connected(self) -> paramiko.SSHClient:
        with self._lock:
            transport = self._client.get_transport() if self._client is not None else None
            if self._client is None or transport is None or not transport.is_active():
                if self._client is not None:
                    self._client.close()
                self._client = None
                self._client = self._connect()
            return self._client

    def _connect(self) -> paramiko.SSHClient:
        import paramiko

        key = self._load_identity(paramiko)
        client = paramiko.SSHClient()
        if self.known_hosts.exists():
            try:
                client.get_host_keys().load(str(self.known_hosts))
            except Exception as exc:
                raise ConfigError(
                    f"cannot read the known hosts file {self.known_hosts}: {exc.args[0] if exc.args else exc}",
                    hint="Fix or remove the broken line; sparkctl records host keys there again on next connect.",
                ) from exc
        client.set_missing_host_key_policy(_AcceptNewHostKeys(self.known_hosts))
        try:
            client.connect(
                self.spec.host,
                port=self.spec.port,
                username=self.user,
                pkey=key,
                allow_agent=key is None,
                look_for_keys=key is None,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                channel_timeout=self.connect_timeout,
            )
        except Exception as exc:
            client.close()
            error = self._connect_error(exc, paramiko)
            if error is exc:
                raise
            raise error from exc
        except BaseException:
            client.close()
            raise
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(30)
            with contextlib.suppress(OSError, AttributeError):
                transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
        return client

    def _load_identity(self, paramiko: Any) -> paramiko.PKey | None:
        if self.identity is None:
            return None
        try:
            return paramiko.PKey.from_path(self.identity)
        except FileNotFoundError as exc:
            raise ConfigError(
                f"the identity file {self.identity} does not exist",
                hint="Pass --identity with the path of your private key (for example ~/.ssh/id_ed25519).",
            ) from exc
        except paramiko.PasswordRequiredException as exc:
            raise AuthenticationFailed(
                f"the identity file {self.identity} is encrypted with a passphrase",
                hint=f"Load it into ssh-agent (ssh-add {self.identity}) and leave out --identity.",
            ) from exc
        except (OSError, ValueError, paramiko.SSHException) as exc:
            reason = str(exc).split(". ")[0]
            raise ConfigError(
                f"{self.identity} is not a private key sparkctl can read: {reason}",
                hint="Pass --identity with an OpenSSH private key (ed25519, ECDSA or RSA), not the .pub file.",
            ) from exc

    def _connect_error(self, exc: Exception, paramiko: Any) -> Exception:
        where = self.spec.address
        check = (
            f"Is the host up, sshd running and port {self.spec.port} open? "
            f"Try: ssh -p {self.spec.port} {self.user}@{self.spec.host}"
        )
        if isinstance(exc, paramiko.BadHostKeyException):
            name = known_hosts_name(self.spec)
            lines = _recorded_lines(self.known_hosts, name) if self.known_hosts.exists() else []
            at = f"line {', '.join(map(str, lines))} of {self.known_hosts}" if lines else str(self.known_hosts)
            return HostKeyMismatch(
                f"the host key of {where} has changed: it presented {exc.key.get_name()} {exc.key.fingerprint}, "
                f"not the key recorded in {self.known_hosts}",
                hint=f"If {self.spec.host} was reinstalled, remove its old key ({at}; "
                f"or run: ssh-keygen -R '{name}' -f {self.known_hosts}). Otherwise, someone may be in between.",
            )
        if isinstance(exc, paramiko.AuthenticationException):
            how = f"the key {self.identity}" if self.identity else "ssh-agent and the default keys in ~/.ssh"
            return AuthenticationFailed(
                f"{where} refused the login of {self.user} with {how}",
                hint=f"Pass --identity with the right key, or add it to ssh-agent; and check that its public key "
                f"is in ~/.ssh/authorized_keys of that user on {self.spec.host}.",
            )
        if isinstance(exc, paramiko.SSHException) and "no authentication methods" in str(exc).lower():
            return AuthenticationFailed(
                f"no key to log in to {where} with: no --identity, no ssh-agent and no default key in ~/.ssh",
                hint="Pass --identity with your private key, or load it into ssh-agent (ssh-add).",
            )
        if isinstance(exc, socket.gaierror):
            return HostUnreachable(
                f"cannot resolve the host name {self.spec.host} (connecting to {where})",
                hint="Check the spelling, DNS or /etc/hosts.",
            )
        if isinstance(exc, TimeoutError):
            return HostUnreachable(f"{where} did not answer within {self.connect_timeout:g} s", hint=check)
        if isinstance(exc, paramiko.SSHException) and "banner" in str(exc).lower():
            return HostUnreachable(
                f"{where} accepted the connection but gave no SSH greeting within {self.connect_timeout:g} s",
                hint=check,
            )
        attempts = list(getattr(exc, "errors", {}).values()) or [exc]
        if all(isinstance(attempt, ConnectionRefusedError) for attempt in attempts):
            return HostUnreachable(f"{where} refused the connection", hint=check)
        if isinstance(exc, OSError) and any(getattr(attempt, "errno", None) for attempt in attempts):
            reasons = sorted({str(attempt.strerror or attempt).lower() for attempt in attempts})
            return HostUnreachable(f"cannot connect to {where}: {'; '.join(reasons)}", hint=check)
        if isinstance(exc, OSError | EOFError | paramiko.SSHException):
            return HostUnreachable(f"cannot connect to {where}: {exc}", hint=check)
        return exc

    def _execute(
        self, argv: list[str], stdin: bytes | None, timeout: float | None, on_output: OutputCallback | None
    ) -> RawResult:
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._sessions.acquire(timeout=timeout):
            raise Overran(f"it never started: all {_MAX_SESSIONS} sessions to the host stayed busy")
        try:
            channel = self._open_session("exec " + shlex.join(["sh", "-c", REPORT_PID, "sh", *argv]))
            stdout, stderr = PidThenOutput(StreamDecoder("stdout", on_output)), StreamDecoder("stderr", on_output)
            try:
                rc = self._stream(channel, stdin, deadline, stdout, stderr)
                stdout.finish()
            except Overran:
                raise Overran(self._stop(channel, stdout, argv)) from None
            except HostUnreachable:
                raise
            except BaseException:
                with contextlib.suppress(Exception):
                    self._stop(channel, stdout, argv)
                raise
            finally:
                channel.close()
        finally:
            self._sessions.release()
        return RawResult(rc, stdout.decoder.data(), stderr.data())

    def _stop(self, channel: paramiko.Channel, started: PidThenOutput, argv: list[str]) -> str:
        """Stop what the command left running, with the privileges it ran with; says what became of it."""
        wait_until = time.monotonic() + _PID_WAIT_SECONDS
        while started.waiting and not channel.eof_received and time.monotonic() < wait_until:
            if channel.recv_ready():
                started.feed(channel.recv(65536))
            else:
                time.sleep(_POLL_SECONDS)
        channel.close()
        if started.pid is None:
            return "it may still be running there: it had not reported its process id"
        transport = channel.get_transport()
        if transport is None or not transport.is_active():
            return f"the connection is gone, so it may still be running there (pid {started.pid})"
        elevate, password = self._elevation(argv)
        stop = shlex.join([*elevate, "sh", "-c", STOP_SCRIPT, "sparkctl-stop", str(started.pid)])
        errors = StreamDecoder("stderr", None)
        try:
            stopper = transport.open_session(timeout=self.connect_timeout)
            try:
                stopper.exec_command(stop)
                deadline = time.monotonic() + _STOP_SECONDS
                rc = self._stream(stopper, password, deadline, StreamDecoder("stdout", None), errors)
            finally:
                stopper.close()
        except Exception as exc:
            why = "it took too long" if isinstance(exc, Overran) else str(exc) or type(exc).__name__
            return f"stopping it failed ({why}), so it may still be running there (pid {started.pid})"
        if rc != 0:
            why = tail(errors.data().decode(errors="replace"), lines=3) or f"exit code {rc}"
            return f"stopping it failed ({why}), so it may still be running there (pid {started.pid})"
        return "it was stopped there, with its child processes"

    def _elevation(self, argv: list[str]) -> tuple[list[str], bytes | None]:
        """The sudo options (and password line) a command ran with, so that what stops it may signal its processes."""
        if argv[:1] != ["sudo"] or "--" not in argv:
            return [], None
        elevate = argv[: argv.index("--") + 1]
        return elevate, self._sudo_password_line() if "-S" in elevate else None

    def _open_session(self, command: str) -> paramiko.Channel:
        """A channel running `command`; a refused channel on a live connection leaves the others running."""
        client = self._connected()
        transport = client.get_transport()
        try:
            channel = transport.open_session(timeout=self.connect_timeout)  # type: ignore[union-attr]
            channel.exec_command(command)
        except Exception as exc:
            if transport is not None and transport.is_active():
                raise HostError(
                    f"{self.spec.address} refused to start a command: {exc}",
                    hint=f"Check MaxSessions in the sshd_config of {self.spec.host}, and its sshd log.",
                ) from exc
            self._drop(client)
            raise HostUnreachable(
                f"lost the connection to {self.spec.address}: {exc}", hint="Check the network and the host, then retry."
            ) from exc
        return channel

    def _drop(self, client: paramiko.SSHClient) -> None:
        """Forget a dead connection, unless another thread has already replaced it."""
        with self._lock:
            if self._client is client:
                self._client = None
        client.close()

    def _stream(
        self,
        channel: paramiko.Channel,
        stdin: bytes | None,
        deadline: float | None,
        stdout: Sink,
        stderr: Sink,
    ) -> int:
        """Send stdin and pass both streams on while the command runs; its exit code, or Overran at the deadline."""
        pending = memoryview(stdin or b"")
        if not pending:
            channel.shutdown_write()
        while True:
            progressed = False
            if pending and channel.send_ready():
                try:
                    pending = pending[channel.send(pending[:32768]) :]
                except OSError:
                    pending = memoryview(b"")
                if not pending:
                    channel.shutdown_write()
                progressed = True
            while channel.recv_ready():
                stdout.feed(channel.recv(65536))
                progressed = True
            while channel.recv_stderr_ready():
                stderr.feed(channel.recv_stderr(65536))
                progressed = True
            if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                break
            if channel.closed and not channel.recv_ready() and not channel.recv_stderr_ready():
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise Overran
            if not progressed:
                time.sleep(_POLL_SECONDS)
        rc = channel.recv_exit_status()
        transport = channel.get_transport()
        if rc < 0 and (transport is None or not transport.is_active()):
            raise HostUnreachable(
                f"lost the connection to {self.spec.address} while a command ran",
                hint="Check the network and the host; the command may or may not have finished there.",
            )
        return rc
