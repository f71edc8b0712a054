"""SSHHost against a real OpenSSH server on 127.0.0.1 (tests/support/sshd.py); nothing of paramiko is mocked."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparkctl.errors import (
    AuthenticationFailed,
    CommandFailed,
    CommandTimeout,
    ConfigError,
    HostKeyMismatch,
    HostUnreachable,
)
from sparkctl.hosts import HostSpec, open_host
from sparkctl.local.process import free_port
from sparkctl.ssh import SSHHost
from support.sshd import SSHServer, start_sshd

pytestmark = pytest.mark.integration


@pytest.fixture
def known_hosts(tmp_path: Path) -> Path:
    return tmp_path / "config" / "known_hosts"


@pytest.fixture(scope="module")
def host(sshd_server: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHHost]:
    """One connection for the tests of the transport itself; tests of connecting open their own."""
    known = tmp_path_factory.mktemp("ssh-client") / "known_hosts"
    with SSHHost(sshd_server.spec, identity=sshd_server.client_key, known_hosts=known) as ssh_host:
        yield ssh_host


def test_argv_and_script_run_on_the_remote_host(host: SSHHost) -> None:
    assert host.run(["echo", "hello", "world"]).stdout == "hello world\n"
    assert host.run("a=4; echo $((a * 2)) | tr 8 X").stdout == "X\n"


def test_exit_codes_are_preserved_and_check_raises_with_the_stderr_tail(host: SSHHost) -> None:
    result = host.run("echo out; echo 'disk full' >&2; exit 3", check=False)
    assert (result.rc, result.ok, result.stdout, result.stderr) == (3, False, "out\n", "disk full\n")

    with pytest.raises(CommandFailed) as failed:
        host.run("echo 'disk full' >&2; exit 3")
    assert failed.value.rc == 3
    assert failed.value.stderr == "disk full\n"
    assert "exit code 3" in failed.value.message and "disk full" in failed.value.message
    assert "127.0.0.1" in failed.value.message


def test_stdin_reaches_the_command(host: SSHHost) -> None:
    assert host.run(["tr", "a-z", "A-Z"], input="spark\n").stdout == "SPARK\n"
    payload = os.urandom(300_000)
    assert host.run(["wc", "-c"], input=payload).stdout.strip() == str(len(payload))


def test_output_streams_to_the_callback_before_the_command_ends(host: SSHHost) -> None:
    chunks: list[tuple[float, str, str]] = []

    result = host.run(
        "echo first; echo warn >&2; sleep 0.6; echo second",
        on_output=lambda stream, text: chunks.append((time.monotonic(), stream, text)),
    )
    finished = time.monotonic()

    assert result.stdout == "first\nsecond\n"
    assert result.stderr == "warn\n"
    assert chunks[0][2].startswith("first")
    assert finished - chunks[0][0] > 0.4
    assert "".join(text for _, stream, text in chunks if stream == "stdout") == result.stdout
    assert "".join(text for _, stream, text in chunks if stream == "stderr") == result.stderr


def test_put_and_get_round_trip_bytes_and_mode(host: SSHHost, tmp_path: Path) -> None:
    target = tmp_path / "etc" / "sparkctl" / "config.bin"
    data = bytes(range(256)) * 40

    host.put(str(target), data, mode=0o600)
    host.put(str(target), data + b"again", mode=0o640)

    assert host.get(str(target)) == data + b"again"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(path.name for path in target.parent.iterdir()) == ["config.bin"]


def test_get_of_a_missing_file_names_the_file(host: SSHHost, tmp_path: Path) -> None:
    with pytest.raises(CommandFailed, match=r"could not read .*missing\.txt"):
        host.get(str(tmp_path / "missing.txt"))


def test_sudo_as_root_runs_the_command_directly(host: SSHHost, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the SSH tests log in as the current user, who is not root here")
    assert host.run(["id", "-u"], sudo=True).stdout == "0\n"
    host.put(str(tmp_path / "root-file"), b"x", mode=0o600, sudo=True)
    assert host.get(str(tmp_path / "root-file"), sudo=True) == b"x"


def test_command_timeout_raises_promptly_naming_command_and_limit(host: SSHHost) -> None:
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as timed_out:
        host.run(["sleep", "5"], timeout=0.5)
    assert time.monotonic() - started < 3
    assert "sleep 5" in timed_out.value.message and "0.5 s" in timed_out.value.message
    assert host.run(["echo", "still usable"]).stdout == "still usable\n"


def test_facts_describe_the_host_in_one_cached_gathering(host: SSHHost) -> None:
    facts = host.facts()

    meminfo = Path("/proc/meminfo").read_text()
    mem_total_kib = int(next(line for line in meminfo.splitlines() if line.startswith("MemTotal:")).split()[1])
    os_release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    assert facts.arch == platform.machine()
    assert facts.hostname == os.uname().nodename
    assert facts.is_root == (os.geteuid() == 0)
    assert facts.memory_bytes == mem_total_kib * 1024
    assert facts.os_id == os_release["ID"].strip('"')
    assert facts.os_version == os_release.get("VERSION_ID", "").strip('"')
    assert host.facts() is facts


def test_hostile_arguments_arrive_intact_as_one_argument(host: SSHHost, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = [f'"; touch {marker}"', f"$(touch {marker})", f"`touch {marker}`", f"'; touch {marker}; '", "a\nb", ""]

    result = host.run(["sh", "-c", 'for a in "$@"; do printf "<%s>" "$a"; done', "x", *hostile])

    assert result.stdout == "".join(f"<{argument}>" for argument in hostile)
    assert not marker.exists()


def test_unknown_host_key_is_recorded_like_accept_new(sshd_server: SSHServer, known_hosts: Path) -> None:
    with SSHHost(sshd_server.spec, identity=sshd_server.client_key, known_hosts=known_hosts) as ssh_host:
        ssh_host.run(["true"])

    recorded = known_hosts.read_text().splitlines()
    host_key = sshd_server.sshd.host_key.with_suffix(".pub").read_text().split()
    assert recorded == [f"[127.0.0.1]:{sshd_server.port} {host_key[0]} {host_key[1]}"]

    with SSHHost(sshd_server.spec, identity=sshd_server.client_key, known_hosts=known_hosts) as ssh_host:
        assert ssh_host.run(["echo", "again"]).stdout == "again\n"
    assert known_hosts.read_text().splitlines() == recorded


def test_changed_host_key_is_refused_with_the_line_to_remove(
    sshd_server: SSHServer, known_hosts: Path, tmp_path: Path
) -> None:
    port = free_port()
    first = start_sshd(tmp_path / "first", port, sshd_server.authorized_keys)
    try:
        with SSHHost(f"127.0.0.1:{port}", identity=sshd_server.client_key, known_hosts=known_hosts) as ssh_host:
            ssh_host.run(["true"])
    finally:
        first.stop()
    reinstalled = start_sshd(tmp_path / "reinstalled", port, sshd_server.authorized_keys)
    try:
        with (
            pytest.raises(HostKeyMismatch) as mismatch,
            SSHHost(f"127.0.0.1:{port}", identity=sshd_server.client_key, known_hosts=known_hosts) as ssh_host,
        ):
            ssh_host.run(["true"])
    finally:
        reinstalled.stop()

    assert f"127.0.0.1:{port}" in mismatch.value.message
    assert "SHA256:" in mismatch.value.message
    assert f"line 1 of {known_hosts}" in mismatch.value.hint
    assert f"ssh-keygen -R '[127.0.0.1]:{port}'" in mismatch.value.hint
    assert len(known_hosts.read_text().splitlines()) == 1


def test_unreachable_port_fails_fast_with_what_to_check(known_hosts: Path) -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(HostUnreachable) as unreachable:
        SSHHost(f"127.0.0.1:{port}", known_hosts=known_hosts).run(["true"])
    assert time.monotonic() - started < 10
    assert f"127.0.0.1:{port}" in unreachable.value.message
    assert "sshd" in unreachable.value.hint and f"ssh -p {port}" in unreachable.value.hint
    assert not known_hosts.exists()


def test_a_port_that_never_greets_fails_after_the_connect_timeout(known_hosts: Path) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(HostUnreachable) as unreachable:
            SSHHost(f"127.0.0.1:{port}", known_hosts=known_hosts, connect_timeout=0.5).run(["true"])
    assert time.monotonic() - started < 3
    assert f"127.0.0.1:{port}" in unreachable.value.message


def test_wrong_identity_key_is_refused_with_what_to_check(sshd_server: SSHServer, known_hosts: Path) -> None:
    with pytest.raises(AuthenticationFailed) as refused:
        SSHHost(sshd_server.spec, identity=sshd_server.other_key, known_hosts=known_hosts).run(["true"])
    assert str(sshd_server.other_key) in refused.value.message
    assert "--identity" in refused.value.hint and "authorized_keys" in refused.value.hint


def test_without_identity_the_default_keys_in_home_are_used(
    sshd_server: SSHServer, known_hosts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_bytes(sshd_server.client_key.read_bytes())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)

    with SSHHost(sshd_server.spec, known_hosts=known_hosts) as ssh_host:
        assert ssh_host.run(["echo", "default key"]).stdout == "default key\n"


def test_no_key_at_all_is_an_authentication_error_saying_how_to_give_one(
    sshd_server: SSHServer, known_hosts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(AuthenticationFailed) as refused:
        SSHHost(sshd_server.spec, known_hosts=known_hosts).run(["true"])
    assert "--identity" in refused.value.hint and "ssh-agent" in refused.value.hint


def test_a_missing_identity_file_is_a_config_error_before_connecting(tmp_path: Path, known_hosts: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        SSHHost(f"127.0.0.1:{free_port()}", identity=tmp_path / "id_nope", known_hosts=known_hosts).run(["true"])


def test_connection_is_lazy_and_reopens_after_close(sshd_server: SSHServer, known_hosts: Path) -> None:
    ssh_host = open_host(sshd_server.spec, identity=sshd_server.client_key, known_hosts=known_hosts)
    assert isinstance(ssh_host, SSHHost)
    assert ssh_host.spec == HostSpec("127.0.0.1", sshd_server.port, sshd_server.user)
    assert not known_hosts.exists()

    assert ssh_host.run(["echo", "one"]).stdout == "one\n"
    ssh_host.close()
    assert ssh_host.run(["echo", "two"]).stdout == "two\n"
    ssh_host.close()
    assert known_hosts.exists()


def test_more_commands_at_once_than_sshd_allows_sessions_all_run(host: SSHHost) -> None:
    outputs: dict[int, str] = {}

    def work(number: int) -> None:
        outputs[number] = host.run(["sh", "-c", 'sleep 0.2; echo "$0"', str(number)]).stdout

    threads = [threading.Thread(target=work, args=(number,)) for number in range(11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert outputs == {number: f"{number}\n" for number in range(11)}


def test_a_command_ended_by_a_signal_has_no_exit_status_and_check_says_so(host: SSHHost) -> None:
    assert host.run("kill -9 $$", check=False).rc == -1
    with pytest.raises(CommandFailed, match="no exit status") as failed:
        host.run("kill -9 $$")
    assert failed.value.rc == -1


def test_losing_the_connection_during_a_command_is_host_unreachable(
    sshd_server: SSHServer, known_hosts: Path, tmp_path: Path
) -> None:
    sshd = start_sshd(tmp_path / "sshd", free_port(), sshd_server.authorized_keys)
    try:
        with SSHHost(f"127.0.0.1:{sshd.port}", identity=sshd_server.client_key, known_hosts=known_hosts) as ssh_host:
            ssh_host.run(["true"])
            connections = _children(sshd.process.pid)
            threading.Timer(0.3, lambda: [os.kill(pid, signal.SIGKILL) for pid in connections]).start()
            started = time.monotonic()
            with pytest.raises(HostUnreachable, match="lost the connection"):
                ssh_host.run(["sleep", "5"])
            assert time.monotonic() - started < 3
    finally:
        sshd.stop()
    assert connections


def _children(pid: int) -> list[int]:
    """The processes whose parent is pid: for sshd, one per open connection."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
    return children


def test_an_unknown_host_name_is_unreachable_naming_it(known_hosts: Path) -> None:
    with pytest.raises(HostUnreachable, match=r"cannot resolve the host name no-such-host\.invalid") as unreachable:
        SSHHost("no-such-host.invalid", known_hosts=known_hosts).run(["true"])
    assert "DNS" in unreachable.value.hint
