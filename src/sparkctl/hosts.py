"""Where commands run: the Host protocol, this machine (LocalHost), and the parts every host shares.

Cluster steps get a Host and never know whether it is local or behind SSH (sparkctl.ssh.SSHHost).
Commands are POSIX: a str is a shell script run by `sh -c`, a sequence is an argv that arrives
argument for argument, whatever it contains.
"""

from __future__ import annotations

import codecs
import contextlib
import enum
import os
import select
import selectors
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

from sparkctl.errors import CommandFailed, CommandTimeout, ConfigError, HostError, SudoError

if TYPE_CHECKING:
    from sparkctl.ssh import SSHHost

DEFAULT_TIMEOUT = 600.0
SUDO_PASSWORD_ENV = "SPARKCTL_SUDO_PASSWORD"

OutputCallback = Callable[[str, str], None]
"""Called as output arrives, with the stream name ("stdout" or "stderr") and the decoded text."""

PasswordProvider = Callable[[], str]

_PIPE_BUF = getattr(select, "PIPE_BUF", 512)


class Overran(Exception):
    """Raised by a host's `_execute` when a command passed its timeout; `outcome` says what became of it."""

    def __init__(self, outcome: str = "it was stopped") -> None:
        super().__init__(outcome)
        self.outcome = outcome


@dataclass(frozen=True)
class Result:
    """What a finished command left: its exit code and everything it wrote.

    A command killed by signal N exits 128+N, as a shell reports it; -1 when an SSH server gave no exit status
    (it reports only the signal, which paramiko drops).
    """

    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass(frozen=True)
class HostFacts:
    """What the steps need to know about a host before they change it."""

    arch: str
    os_id: str
    os_version: str
    hostname: str
    is_root: bool
    sudo_needs_password: bool
    memory_bytes: int
    has_sudo: bool = True


@runtime_checkable
class Host(Protocol):
    """A machine that runs commands and holds files, here or over SSH."""

    @property
    def name(self) -> str: ...

    def run(
        self,
        command: Sequence[str] | str,
        *,
        sudo: bool = False,
        input: str | bytes | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        check: bool = True,
        on_output: OutputCallback | None = None,
    ) -> Result: ...

    def put(self, path: str, data: bytes, *, mode: int = 0o644, sudo: bool = False) -> None: ...

    def get(self, path: str, *, sudo: bool = False) -> bytes: ...

    def facts(self) -> HostFacts: ...


_SPEC_HINT = "Use [user@]HOST[:PORT], for example spark@10.0.0.5, spark-01:2222 or root@[fe80::1]:22."


@dataclass(frozen=True)
class HostSpec:
    """Where to connect: `[user@]HOST[:PORT]`, with IPv6 addresses in brackets when a port follows."""

    host: str
    port: int = 22
    user: str | None = None

    @classmethod
    def parse(cls, text: str) -> HostSpec:
        def bad(why: str) -> ConfigError:
            return ConfigError(f"host '{text}' is not a valid host: {why}", hint=_SPEC_HINT)

        if not text or any(char.isspace() for char in text):
            raise bad("it is empty or contains spaces")
        user, at, rest = text.rpartition("@")
        if at and not user:
            raise bad("the user before '@' is empty")
        port_text: str | None = None
        if rest.startswith("["):
            host, bracket, tail = rest[1:].partition("]")
            if not bracket:
                raise bad("'[' without a closing ']'")
            if tail:
                if not tail.startswith(":"):
                    raise bad("only ':PORT' may follow ']'")
                port_text = tail[1:]
        elif rest.count(":") > 1:
            host = rest
        else:
            host, colon, port_text_or_empty = rest.partition(":")
            port_text = port_text_or_empty if colon else None
        if not host or any(char in host for char in "[]@/"):
            raise bad("the host name is empty or malformed")
        port = 22
        if port_text is not None:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise bad(f"the port '{port_text}' is not a number from 1 to 65535")
            port = int(port_text)
        return cls(host=host, port=port, user=user or None)

    @property
    def address(self) -> str:
        """host:port as people type it, with IPv6 in brackets."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        if self.port == 22:
            return f"{user}{self.host}"
        return f"{user}{self.address}"


class SudoFailure(enum.Enum):
    PASSWORD_REQUIRED = "password required"
    WRONG_PASSWORD = "wrong password"
    NOT_PERMITTED = "not permitted"
    NOT_INSTALLED = "not installed"


_SUDO_MESSAGES: tuple[tuple[str, SudoFailure], ...] = (
    ("incorrect password", SudoFailure.WRONG_PASSWORD),
    ("sorry, try again", SudoFailure.WRONG_PASSWORD),
    ("no password was provided", SudoFailure.WRONG_PASSWORD),
    ("a password is required", SudoFailure.PASSWORD_REQUIRED),
    ("a terminal is required", SudoFailure.PASSWORD_REQUIRED),
    ("is not in the sudoers file", SudoFailure.NOT_PERMITTED),
    ("is not allowed to execute", SudoFailure.NOT_PERMITTED),
    ("may not run sudo", SudoFailure.NOT_PERMITTED),
)


def sudo_failure(rc: int, stderr: str) -> SudoFailure | None:
    """Why sudo itself refused, from its exit code and messages; None when the command ran (or sudo said nothing)."""
    if rc == 0:
        return None
    text = stderr.lower()
    if rc == 127 and "sudo" in text and ("not found" in text or "no such file" in text):
        return SudoFailure.NOT_INSTALLED
    for needle, failure in _SUDO_MESSAGES:
        if needle in text:
            return failure
    return None


_FACTS_SCRIPT = """\
printf 'arch=%s\\n' "$(uname -m)"
printf 'hostname=%s\\n' "$(uname -n)"
printf 'uid=%s\\n' "$(id -u)"
if command -v sudo >/dev/null 2>&1; then echo has_sudo=yes; else echo has_sudo=no; fi
if [ "$(id -u)" = 0 ] || sudo -n true >/dev/null 2>&1; then echo sudo_password=no; else echo sudo_password=yes; fi
grep '^MemTotal:' /proc/meminfo
cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
true
"""


def parse_facts(text: str, host_name: str) -> HostFacts:
    """HostFacts from the output of the facts script (key=value lines, /proc/meminfo's MemTotal, os-release)."""
    values: dict[str, str] = {}
    memory_bytes = 0
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            amount = line.split()[1:2]
            memory_bytes = int(amount[0]) * 1024 if amount and amount[0].isdigit() else 0
        elif "=" in line:
            key, _, value = line.partition("=")
            with contextlib.suppress(ValueError):
                value = " ".join(shlex.split(value))
            values.setdefault(key, value)
    if not values.get("arch") or "uid" not in values or not memory_bytes:
        raise HostError(
            f"could not read the facts of {host_name}: unexpected output {text[:200]!r}",
            hint="The host needs a POSIX shell, coreutils and /proc (a Linux system).",
        )
    return HostFacts(
        arch=values["arch"],
        os_id=values.get("ID", ""),
        os_version=values.get("VERSION_ID", ""),
        hostname=values.get("hostname", ""),
        is_root=values["uid"] == "0",
        sudo_needs_password=values.get("sudo_password") == "yes",
        memory_bytes=memory_bytes,
        has_sudo=values.get("has_sudo") != "no",
    )


_PUT_SCRIPT = """\
set -e
target=$1
dir=$(dirname -- "$target")
mkdir -p -- "$dir"
tmp=$(mktemp "$dir/.$(basename -- "$target").XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
chmod "$2" "$tmp"
mv -f -- "$tmp" "$target"
trap - EXIT
"""


@dataclass(frozen=True)
class RawResult:
    rc: int
    stdout: bytes
    stderr: bytes


def describe(command: Sequence[str] | str) -> str:
    """A command as a person would type it, for messages."""
    text = command if isinstance(command, str) else shlex.join(command)
    text = " ".join(text.split())
    return text if len(text) <= 160 else text[:157] + "..."


def tail(text: str, lines: int = 10, chars: int = 1500) -> str:
    """The last lines of some output, the part that usually says what went wrong."""
    kept = "\n".join(text.strip().splitlines()[-lines:])
    return kept[-chars:]


def exit_description(rc: int) -> str:
    """How a command ended, for messages: 137 also names SIGKILL, since that is usually why."""
    if rc < 0:
        return "no exit status (a signal ended it)"
    try:
        killed_by = signal.Signals(rc - 128).name if rc > 128 else ""
    except ValueError:
        killed_by = ""
    return f"exit code {rc} ({killed_by})" if killed_by else f"exit code {rc}"


def timeout_error(command: str, timeout: float, host_name: str, outcome: str = "it was stopped") -> CommandTimeout:
    return CommandTimeout(
        f"`{command}` did not finish within {timeout:g} s on {host_name}; {outcome}",
        hint="Check what it waits for (a lock, the network, a prompt), or give it a longer timeout.",
    )


class StreamDecoder:
    """Decodes one stream's chunks to text for on_output, without splitting a UTF-8 character."""

    def __init__(self, name: str, on_output: OutputCallback | None) -> None:
        self.name = name
        self.chunks: list[bytes] = []
        self._on_output = on_output
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> None:
        self.chunks.append(data)
        if self._on_output is not None:
            text = self._decoder.decode(data)
            if text:
                self._on_output(self.name, text)

    def data(self) -> bytes:
        return b"".join(self.chunks)


class PosixHost:
    """run/put/get/facts and sudo for any host that can execute an argv; subclasses provide `_execute`."""

    def __init__(self, sudo_password: PasswordProvider | None = None) -> None:
        self._password_provider = sudo_password
        self._sudo_password: str | None = None
        self._sudo_needs_password = False
        self._facts: HostFacts | None = None

    @property
    def name(self) -> str:
        raise NotImplementedError

    def _execute(
        self, argv: list[str], stdin: bytes | None, timeout: float | None, on_output: OutputCallback | None
    ) -> RawResult:
        """Run argv as it is; raise Overran when it passed `timeout` (after stopping it)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection, if any; the host can still be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def run(
        self,
        command: Sequence[str] | str,
        *,
        sudo: bool = False,
        input: str | bytes | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        check: bool = True,
        on_output: OutputCallback | None = None,
    ) -> Result:
        """Run a shell script (str) or an argv (sequence), as root when `sudo`; CommandFailed on rc != 0 if `check`."""
        argv = ["sh", "-c", command] if isinstance(command, str) else [str(arg) for arg in command]
        if not argv:
            raise ValueError("an empty command cannot be run")
        stdin = input.encode() if isinstance(input, str) else input
        shown = ("sudo " if sudo else "") + describe(command)
        raw = self._run_argv(argv, sudo=sudo, stdin=stdin, timeout=timeout, on_output=on_output, shown=shown)
        result = Result(raw.rc, raw.stdout.decode(errors="replace"), raw.stderr.decode(errors="replace"))
        if check and not result.ok:
            detail = tail(result.stderr) or tail(result.stdout) or "(no output)"
            raise CommandFailed(
                f"`{shown}` failed on {self.name} with {exit_description(result.rc)}: {detail}",
                hint=f"Run it by hand on {self.name} to see the whole output.",
                rc=result.rc,
                stderr=result.stderr,
            )
        return result

    def put(self, path: str, data: bytes, *, mode: int = 0o644, sudo: bool = False) -> None:
        """Write a file atomically: a temporary file beside it, then a rename over it. Creates missing parents."""
        argv = ["sh", "-c", _PUT_SCRIPT, "sparkctl-put", path, format(mode, "o")]
        raw = self._run_argv(argv, sudo=sudo, stdin=data, timeout=DEFAULT_TIMEOUT, on_output=None, shown=f"put {path}")
        if raw.rc != 0:
            stderr = raw.stderr.decode(errors="replace")
            raise CommandFailed(
                f"could not write {path} on {self.name}: {tail(stderr) or f'exit code {raw.rc}'}",
                hint="Check that the directory is writable by this user, or write it with sudo.",
                rc=raw.rc,
                stderr=stderr,
            )

    def get(self, path: str, *, sudo: bool = False) -> bytes:
        raw = self._run_argv(
            ["cat", "--", path], sudo=sudo, stdin=None, timeout=DEFAULT_TIMEOUT, on_output=None, shown=f"get {path}"
        )
        if raw.rc != 0:
            stderr = raw.stderr.decode(errors="replace")
            raise CommandFailed(
                f"could not read {path} on {self.name}: {tail(stderr) or f'exit code {raw.rc}'}",
                hint="Check that the file exists and is readable by this user, or read it with sudo.",
                rc=raw.rc,
                stderr=stderr,
            )
        return raw.stdout

    def facts(self) -> HostFacts:
        """Gathered with one command on first use, then cached for the life of this object."""
        if self._facts is None:
            self._facts = parse_facts(self.run(_FACTS_SCRIPT, timeout=60).stdout, self.name)
        return self._facts

    def _run_argv(
        self,
        argv: list[str],
        *,
        sudo: bool,
        stdin: bytes | None,
        timeout: float | None,
        on_output: OutputCallback | None,
        shown: str,
    ) -> RawResult:
        try:
            if not sudo or self.facts().is_root:
                return self._execute(argv, stdin, timeout, on_output)
            if not self._needs_sudo_password():
                raw = self._execute(["sudo", "-n", "--", *argv], stdin, timeout, on_output)
                failure = sudo_failure(raw.rc, raw.stderr.decode(errors="replace"))
                if failure is None:
                    return raw
                if failure is not SudoFailure.PASSWORD_REQUIRED:
                    raise self._sudo_error(failure, raw.stderr)
                self._sudo_needs_password = True
            fed = self._sudo_password_line() + (stdin or b"")
            return self._execute(["sudo", "-k", "-S", "-p", "", "--", *argv], fed, timeout, on_output)
        except Overran as overran:
            raise timeout_error(shown, timeout or 0, self.name, overran.outcome) from None

    def _needs_sudo_password(self) -> bool:
        facts = self.facts()
        if not facts.has_sudo:
            raise SudoError(
                f"sudo is not installed on {self.name}, and this step needs root",
                hint="Install sudo there, or connect as root (--host root@HOST).",
            )
        return self._sudo_needs_password or facts.sudo_needs_password

    def _sudo_password_line(self) -> bytes:
        """The password for `sudo -S`: asked once, checked alone (so no input is ever taken for a retry), cached.

        `-k` makes sudo read it even when credentials are cached, so the line never leaks into the command's input.
        """
        if self._sudo_password is None:
            if self._password_provider is None:
                raise SudoError(
                    f"sudo on {self.name} needs a password and none was given",
                    hint=f"Set {SUDO_PASSWORD_ENV}, run where sparkctl can ask for it, or allow sudo without one.",
                )
            password = self._password_provider()
            line = f"{password}\n".encode()
            check = self._execute(["env", "LC_ALL=C", "sudo", "-k", "-S", "-p", "", "true"], line, 60, None)
            if check.rc != 0:
                raise self._sudo_error(sudo_failure(check.rc, check.stderr.decode(errors="replace")), check.stderr)
            self._sudo_password = password
        return f"{self._sudo_password}\n".encode()

    def _sudo_error(self, failure: SudoFailure | None, stderr: bytes) -> SudoError:
        if failure is SudoFailure.WRONG_PASSWORD:
            return SudoError(
                f"sudo on {self.name} refused the password",
                hint=f"Check the password of this user on {self.name} (or {SUDO_PASSWORD_ENV}).",
            )
        if failure is SudoFailure.NOT_INSTALLED:
            return SudoError(f"sudo is not installed on {self.name}", hint="Install sudo there, or connect as root.")
        said = tail(stderr.decode(errors="replace"), lines=3) or "(no message)"
        return SudoError(
            f"sudo on {self.name} refused: {said}",
            hint=f"Check that this user may use sudo on {self.name} (sudo -l), or connect as root.",
        )


class LocalHost(PosixHost):
    """This machine, through subprocesses."""

    @property
    def name(self) -> str:
        return "this machine"

    def _execute(
        self, argv: list[str], stdin: bytes | None, timeout: float | None, on_output: OutputCallback | None
    ) -> RawResult:
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            rc = 127 if isinstance(exc, FileNotFoundError) else 126
            return RawResult(rc, b"", f"{argv[0]}: {exc.strerror or exc}\n".encode())
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            streams = _pump(process, stdin, deadline, on_output)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            rc = process.wait(remaining)
            rc = 128 - rc if rc < 0 else rc
        except (Overran, subprocess.TimeoutExpired):
            _kill_group(process)
            raise Overran from None
        except BaseException:
            _kill_group(process)
            raise
        return RawResult(rc, streams["stdout"].data(), streams["stderr"].data())


def _pump(
    process: subprocess.Popen[bytes], stdin: bytes | None, deadline: float | None, on_output: OutputCallback | None
) -> dict[str, StreamDecoder]:
    """Feed stdin and read both pipes as data comes, until the pipes close; Overran at the deadline."""
    streams = {"stdout": StreamDecoder("stdout", on_output), "stderr": StreamDecoder("stderr", on_output)}
    pending = memoryview(stdin or b"")
    with selectors.DefaultSelector() as selector:
        assert process.stdout is not None and process.stderr is not None
        selector.register(process.stdout, selectors.EVENT_READ, streams["stdout"])
        selector.register(process.stderr, selectors.EVENT_READ, streams["stderr"])
        if process.stdin is not None:
            if pending:
                selector.register(process.stdin, selectors.EVENT_WRITE, None)
            else:
                process.stdin.close()
        while selector.get_map():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise Overran
            for key, _ in selector.select(remaining):
                file: Any = key.fileobj
                if key.data is None:
                    try:
                        pending = pending[os.write(file.fileno(), pending[:_PIPE_BUF]) :]
                    except BrokenPipeError:
                        pending = memoryview(b"")
                    if not pending:
                        selector.unregister(file)
                        file.close()
                    continue
                data = os.read(file.fileno(), 65536)
                if data:
                    key.data.feed(data)
                else:
                    selector.unregister(file)
                    file.close()
    return streams


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the command's process group, SIGKILL to whatever of it is left after a moment."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(2.0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5.0)
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def open_host(
    spec: str | HostSpec | None,
    *,
    identity: Path | None = None,
    known_hosts: Path | None = None,
    sudo_password: PasswordProvider | None = None,
) -> Host:
    """This machine when spec is None, else an SSHHost for `[user@]HOST[:PORT]` (it connects on first use)."""
    if spec is None:
        return LocalHost(sudo_password=sudo_password)
    from sparkctl.ssh import SSHHost

    return SSHHost(spec, identity=identity, known_hosts=known_hosts, sudo_password=sudo_password)


def __getattr__(name: str) -> type[SSHHost]:
    """`from sparkctl.hosts import SSHHost` works without importing paramiko up front."""
    if name == "SSHHost":
        from sparkctl.ssh import SSHHost

        return SSHHost
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
