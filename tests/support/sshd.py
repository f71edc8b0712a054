"""A real OpenSSH server on 127.0.0.1 for the SSH tests, with keys generated for the session."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sparkctl.local.process import free_port

_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])


def sshd_binary() -> str | None:
    return shutil.which("sshd", path=_SBIN_PATH)


def keygen(path: Path, comment: str = "sparkctl-tests") -> Path:
    """A new ed25519 key pair at path and path.pub, without a passphrase."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


@dataclass
class Sshd:
    """One running sshd: where it listens, which host key it has, and its log."""

    port: int
    host_key: Path
    log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_sshd(directory: Path, port: int, authorized_keys: Path, host_key: Path | None = None) -> Sshd:
    """Run `sshd -D -e` on 127.0.0.1:port with its own config in directory; returns once it greets."""
    binary = sshd_binary()
    if binary is None:
        pytest.skip("no sshd binary: install openssh-server to run the SSH tests")
    directory.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    if host_key is None:
        host_key = keygen(directory / "ssh_host_ed25519_key", "sparkctl-test-host")
    config = directory / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\n"
        f"HostKey {host_key}\n"
        f"PidFile {directory / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized_keys}\n"
        "PermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "StrictModes no\n"
        "UsePAM no\n"
        "LogLevel VERBOSE\n"
        "Subsystem sftp internal-sftp\n"
    )
    log = directory / "sshd.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [binary, "-D", "-e", "-f", str(config), "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Sshd(port=port, host_key=host_key, log=log, process=process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}: {log.read_text(errors='replace')}")
        if _greets(port):
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"sshd did not answer on port {port} within 10 s: {log.read_text(errors='replace')}")


def _greets(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


@dataclass
class SSHServer:
    """The session's sshd, the key that may log in, and a key that may not."""

    sshd: Sshd
    user: str
    directory: Path
    client_key: Path
    other_key: Path
    authorized_keys: Path

    @property
    def port(self) -> int:
        return self.sshd.port

    @property
    def spec(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """sshd on a free port of 127.0.0.1 that lets the current user in with `client_key`."""
    if sshd_binary() is None:
        pytest.skip("no sshd binary: install openssh-server to run the SSH tests")
    directory = tmp_path_factory.mktemp("sshd")
    client_key = keygen(directory / "client_ed25519")
    other_key = keygen(directory / "other_ed25519")
    authorized_keys = directory / "authorized_keys"
    authorized_keys.write_text(client_key.with_suffix(".pub").read_text())
    sshd = start_sshd(directory / "server", free_port(), authorized_keys)
    yield SSHServer(sshd, getpass.getuser(), directory, client_key, other_key, authorized_keys)
    sshd.stop()
