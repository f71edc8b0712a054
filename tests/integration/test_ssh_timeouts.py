"""A command that overruns or is interrupted over SSH leaves nothing running on the host.

Real OpenSSH server on 127.0.0.1 (tests/support/sshd.py); what is left running is read back over the same host.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparkctl.errors import CommandTimeout
from sparkctl.ssh import SSHHost
from support.sshd import SSHServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def host(sshd_server: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHHost]:
    known = tmp_path_factory.mktemp("ssh-timeouts") / "known_hosts"
    with SSHHost(sshd_server.spec, identity=sshd_server.client_key, known_hosts=known) as ssh_host:
        yield ssh_host


def _marker() -> str:
    """A sleep length no other process uses, so `sleep <marker>` names this test's processes alone."""
    return str(random.randrange(1_000_000, 9_999_999))


def _running(host: SSHHost, *markers: str) -> list[str]:
    """The live (not zombie) `sleep <marker>` processes on the host, as `pid args` lines."""
    listing = host.run(["ps", "-e", "-o", "pid=,stat=,args="]).stdout
    wanted = {f"sleep {marker}" for marker in markers}
    found = []
    for line in listing.splitlines():
        pid, state, args = [*line.split(None, 2), "", ""][:3]
        if args in wanted and not state.startswith("Z"):
            found.append(f"{pid} {args}")
    return found


def _wait_until_started(host: SSHHost, *markers: str) -> None:
    deadline = time.monotonic() + 5
    while len(_running(host, *markers)) < len(markers):
        assert time.monotonic() < deadline, f"never saw all of {markers} start: {_running(host, *markers)}"
        time.sleep(0.05)


def _assert_gone(host: SSHHost, *markers: str, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while left := _running(host, *markers):
        assert time.monotonic() < deadline, f"still running on the host after {within:g} s: {left}"
        time.sleep(0.05)


def test_a_timed_out_command_is_stopped_on_the_host_and_the_error_says_so(host: SSHHost) -> None:
    marker = _marker()
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as timed_out:
        host.run(["sleep", marker], timeout=1)

    assert time.monotonic() - started < 5
    assert f"`sleep {marker}` did not finish within 1 s on {host.name}" in timed_out.value.message
    assert "stopped" in timed_out.value.message
    _assert_gone(host, marker)
    assert host.run(["echo", "still usable"]).stdout == "still usable\n"


def test_a_timed_out_command_run_with_sudo_is_stopped_too(host: SSHHost) -> None:
    facts = host.facts()
    if not facts.is_root and (not facts.has_sudo or facts.sudo_needs_password):
        pytest.skip("the SSH user is neither root nor allowed sudo without a password")
    marker = _marker()
    with pytest.raises(CommandTimeout, match="stopped"):
        host.run(f"sleep {marker} & wait", sudo=True, timeout=1)
    _assert_gone(host, marker)


def test_children_in_the_background_of_its_process_group_are_stopped_too(host: SSHHost) -> None:
    background, foreground = _marker(), _marker()
    with pytest.raises(CommandTimeout):
        host.run(f"sleep {background} & sleep {foreground}; wait", timeout=1)
    _assert_gone(host, background, foreground)


def test_a_child_that_left_the_process_group_is_stopped_too(host: SSHHost) -> None:
    if shutil.which("setsid") is None:
        pytest.skip("no setsid (util-linux) on this host")
    escaped = _marker()
    with pytest.raises(CommandTimeout):
        host.run(f"setsid sleep {escaped} & wait", timeout=1)
    _assert_gone(host, escaped)


def test_a_command_that_ignores_sigterm_is_killed_after_a_grace(host: SSHHost) -> None:
    stubborn = _marker()
    with pytest.raises(CommandTimeout) as timed_out:
        host.run(f"trap '' TERM; sleep {stubborn} & wait", timeout=1)
    assert "stopped" in timed_out.value.message
    _assert_gone(host, stubborn, within=2)


def test_an_interrupt_while_waiting_stops_the_remote_command(host: SSHHost) -> None:
    marker = _marker()

    def interrupt(stream: str, text: str) -> None:
        if "started" in text:
            _wait_until_started(host, marker)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        host.run(f"sleep {marker} & echo started; wait", on_output=interrupt)
    _assert_gone(host, marker)


def test_output_streams_and_exit_code_stay_exact(host: SSHHost, tmp_path: Path) -> None:
    result = host.run(r"printf '42\n\r\n\000x'; printf 'err\r' >&2; exit 5", check=False)
    assert (result.rc, result.stdout, result.stderr) == (5, "42\n\r\n\x00x", "err\r")
    assert host.run(["printf", "%s", "no newline"]).stdout == "no newline"
    assert host.run(["true"]).stdout == ""
    assert host.run(["cat"], input="in\r\n").stdout == "in\r\n"
