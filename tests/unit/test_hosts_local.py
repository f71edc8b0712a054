"""LocalHost runs real subprocesses; host specs, sudo's refusals and the facts parser are plain functions."""

from __future__ import annotations

import os
import platform
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sparkctl.errors import CommandFailed, CommandTimeout, ConfigError, HostError, SudoError
from sparkctl.hosts import (
    SUDO_PASSWORD_ENV,
    Host,
    HostFacts,
    HostSpec,
    LocalHost,
    Result,
    SudoFailure,
    open_host,
    parse_facts,
    sudo_failure,
)

host = LocalHost()


def test_argv_and_script_run_here() -> None:
    assert host.run(["echo", "hello", "world"]) == Result(0, "hello world\n", "")
    assert host.run("a=4; echo $((a * 2)) | tr 8 X").stdout == "X\n"


def test_exit_codes_are_preserved_and_check_raises_with_the_stderr_tail() -> None:
    result = host.run("echo out; echo 'disk full' >&2; exit 3", check=False)
    assert (result.rc, result.ok, result.stdout, result.stderr) == (3, False, "out\n", "disk full\n")

    with pytest.raises(CommandFailed) as failed:
        host.run("seq 1 50 >&2; exit 3")
    assert (failed.value.rc, failed.value.stderr) == (3, "".join(f"{n}\n" for n in range(1, 51)))
    assert "exit code 3" in failed.value.message and "50" in failed.value.message
    assert "\n1\n" not in failed.value.message


def test_a_missing_program_fails_like_a_shell_would() -> None:
    result = host.run(["sparkctl-no-such-program", "x"], check=False)
    assert result.rc == 127 and "sparkctl-no-such-program" in result.stderr


def test_a_command_killed_by_a_signal_exits_128_plus_the_signal_as_a_shell_reports_it() -> None:
    assert host.run("kill -9 $$", check=False).rc == 128 + 9
    with pytest.raises(CommandFailed, match=r"exit code 143 \(SIGTERM\)"):
        host.run("kill -TERM $$")


def test_stdin_and_large_output_flow_together_without_deadlock() -> None:
    payload = os.urandom(2_000_000)
    result = host.run(["sh", "-c", "cat; cat /dev/null >&2"], input=payload.hex())
    assert result.stdout == payload.hex()
    assert host.run(["tr", "a-z", "A-Z"], input="spark\n").stdout == "SPARK\n"


def test_commands_without_input_see_an_empty_stdin() -> None:
    assert host.run(["cat"], timeout=5).stdout == ""


def test_output_streams_to_the_callback_before_the_command_ends() -> None:
    chunks: list[tuple[float, str, str]] = []

    result = host.run(
        "echo first; echo warn >&2; sleep 0.4; echo second",
        on_output=lambda stream, text: chunks.append((time.monotonic(), stream, text)),
    )
    finished = time.monotonic()

    assert chunks[0][2] == "first\n"
    assert finished - chunks[0][0] > 0.3
    assert "".join(text for _, stream, text in chunks if stream == "stdout") == result.stdout == "first\nsecond\n"
    assert "".join(text for _, stream, text in chunks if stream == "stderr") == result.stderr == "warn\n"


def test_streamed_text_never_splits_a_utf8_character() -> None:
    chunks: list[str] = []
    host.run(r"printf '\303'; sleep 0.1; printf '\251t\303\251\n'", on_output=lambda _, text: chunks.append(text))
    assert "".join(chunks) == "été\n"
    assert "\ufffd" not in "".join(chunks)


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as timed_out:
        host.run(f"sleep 30 & echo $! > {pid_file}; wait", timeout=0.3)
    assert time.monotonic() - started < 3
    assert "0.3 s" in timed_out.value.message and "sleep 30" in timed_out.value.message

    child = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_hostile_arguments_arrive_intact_as_one_argument(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = [f'"; touch {marker}"', f"$(touch {marker})", f"`touch {marker}`", f"'; touch {marker}; '", "a\nb", ""]

    result = host.run(["sh", "-c", 'for a in "$@"; do printf "<%s>" "$a"; done', "x", *hostile])

    assert result.stdout == "".join(f"<{argument}>" for argument in hostile)
    assert not marker.exists()


def test_put_writes_atomically_with_mode_and_get_reads_it_back(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "sparkctl" / "config.bin"
    data = bytes(range(256)) * 40

    host.put(str(target), b"old", mode=0o600)
    host.put(str(target), data, mode=0o640)

    assert host.get(str(target)) == data
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [path.name for path in target.parent.iterdir()] == ["config.bin"]


def test_put_and_get_failures_name_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(CommandFailed, match=re.escape(f"could not write {blocker}/x")):
        host.put(str(blocker / "x"), b"data")
    with pytest.raises(CommandFailed, match=r"could not read .*missing"):
        host.get(str(tmp_path / "missing"))


def test_sudo_as_root_runs_the_command_directly(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    assert host.run(["id", "-u"], sudo=True).stdout == "0\n"
    host.put(str(tmp_path / "root-file"), b"x", sudo=True)
    assert host.get(str(tmp_path / "root-file"), sudo=True) == b"x"


def test_facts_describe_this_machine_and_are_cached() -> None:
    fresh = LocalHost()
    facts = fresh.facts()
    mem_total_kib = next(line for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line)

    assert facts.arch == platform.machine()
    assert facts.hostname == os.uname().nodename
    assert facts.is_root == (os.geteuid() == 0)
    assert facts.memory_bytes == int(mem_total_kib.split()[1]) * 1024
    assert facts.os_id and facts.os_id in Path("/etc/os-release").read_text()
    assert fresh.facts() is facts


SPARK_FACTS_OUTPUT = """\
arch=aarch64
hostname=spark-01
uid=1000
has_sudo=yes
sudo_password=yes
MemTotal:       128443500 kB
PRETTY_NAME="Ubuntu 24.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
ID=ubuntu
ID_LIKE=debian
"""


def test_facts_parse_from_one_gathering_of_a_spark() -> None:
    assert parse_facts(SPARK_FACTS_OUTPUT, "spark-01") == HostFacts(
        arch="aarch64",
        os_id="ubuntu",
        os_version="24.04",
        hostname="spark-01",
        is_root=False,
        sudo_needs_password=True,
        memory_bytes=128443500 * 1024,
        has_sudo=True,
    )


def test_unreadable_facts_are_a_host_error_not_a_crash() -> None:
    with pytest.raises(HostError, match="could not read the facts of spark-01"):
        parse_facts("sh: 1: uname: not found\n", "spark-01")


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("spark-01", HostSpec("spark-01", 22, None)),
        ("spark@10.0.0.5", HostSpec("10.0.0.5", 22, "spark")),
        ("spark@10.0.0.5:2222", HostSpec("10.0.0.5", 2222, "spark")),
        ("host.lan:22", HostSpec("host.lan", 22, None)),
        ("[::1]:2222", HostSpec("::1", 2222, None)),
        ("root@[fe80::1]", HostSpec("fe80::1", 22, "root")),
        ("fe80::1", HostSpec("fe80::1", 22, None)),
        ("me@corp@bastion", HostSpec("bastion", 22, "me@corp")),
    ],
)
def test_host_specs_parse(text: str, spec: HostSpec) -> None:
    assert HostSpec.parse(text) == spec


@pytest.mark.parametrize(
    "text", ["", "@host", "user@", "host:", ":22", "host:ssh", "host:0", "host:65536", "[::1", "[::1]x", "a b", "a/b"]
)
def test_bad_host_specs_are_refused_showing_the_form(text: str) -> None:
    with pytest.raises(ConfigError) as refused:
        HostSpec.parse(text)
    assert "[user@]HOST[:PORT]" in refused.value.hint


def test_host_specs_print_as_typed_and_address_names_host_and_port() -> None:
    assert str(HostSpec.parse("spark@10.0.0.5")) == "spark@10.0.0.5"
    assert str(HostSpec.parse("[::1]:2222")) == "[::1]:2222"
    assert HostSpec.parse("spark@10.0.0.5").address == "10.0.0.5:22"
    assert HostSpec.parse("[::1]:2222").address == "[::1]:2222"


@pytest.mark.parametrize(
    ("rc", "stderr", "failure"),
    [
        (1, "sudo: a password is required\n", SudoFailure.PASSWORD_REQUIRED),
        (
            1,
            "sudo: a terminal is required to read the password; either use the -S option",
            SudoFailure.PASSWORD_REQUIRED,
        ),
        (
            1,
            "Sorry, try again.\nsudo: no password was provided\nsudo: 1 incorrect password attempt\n",
            SudoFailure.WRONG_PASSWORD,
        ),
        (1, "sudo: 3 incorrect password attempts\n", SudoFailure.WRONG_PASSWORD),
        (1, "spark is not in the sudoers file.  This incident will be reported.\n", SudoFailure.NOT_PERMITTED),
        (
            1,
            "Sorry, user spark is not allowed to execute '/bin/true' as root on spark-01.\n",
            SudoFailure.NOT_PERMITTED,
        ),
        (127, "sh: 1: sudo: not found\n", SudoFailure.NOT_INSTALLED),
        (127, "sudo: No such file or directory\n", SudoFailure.NOT_INSTALLED),
        (0, "sudo: a password is required\n", None),
        (2, "ls: cannot access '/nope': No such file or directory\n", None),
        (127, "sh: 1: kubeadm: not found\n", None),
    ],
)
def test_sudo_refusals_are_told_apart_from_command_failures(rc: int, stderr: str, failure: SudoFailure | None) -> None:
    assert sudo_failure(rc, stderr) == failure


FAKE_SUDO = """\
#!/bin/sh
# Behaves like sudo as far as sparkctl relies on it: -n refuses without a password, -S reads one line.
echo "$*" >> "$FAKE_SUDO_LOG"
if [ "$1" = "-n" ]; then
  if [ -n "$FAKE_SUDO_NOPASSWD" ]; then shift 2; exec "$@"; fi
  echo "sudo: a password is required" >&2; exit 1
fi
IFS= read -r password
if [ "$password" != "$FAKE_SUDO_PASSWORD" ]; then
  echo "Sorry, try again." >&2; echo "sudo: 1 incorrect password attempt" >&2; exit 1
fi
while [ $# -gt 0 ]; do case "$1" in --) shift; break;; -p) shift 2;; -*) shift;; *) break;; esac; done
exec "$@"
"""


class NonRootHost(LocalHost):
    """This machine as an unprivileged user would see it, with a stand-in sudo first on PATH."""

    def __init__(self, needs_password: bool = True, has_sudo: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._scripted = HostFacts("aarch64", "ubuntu", "24.04", "spark-01", False, needs_password, 2**37, has_sudo)

    def facts(self) -> HostFacts:
        return self._scripted


@pytest.fixture
def fake_sudo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sudo").write_text(FAKE_SUDO)
    (bin_dir / "sudo").chmod(0o755)
    log = tmp_path / "sudo.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SUDO_LOG", str(log))
    monkeypatch.setenv("FAKE_SUDO_PASSWORD", "s3cret pass")
    return log


def test_sudo_password_is_asked_once_and_fed_before_the_input(fake_sudo: Path) -> None:
    asked: list[int] = []
    sudo_host = NonRootHost(sudo_password=lambda: asked.append(1) or "s3cret pass")

    assert sudo_host.run(["cat"], sudo=True, input="line 1\nline 2\n").stdout == "line 1\nline 2\n"
    assert sudo_host.run("id -u >/dev/null; echo root-ish", sudo=True).stdout == "root-ish\n"

    assert asked == [1]
    assert all(call.startswith("-k -S -p") for call in fake_sudo.read_text().splitlines())


def test_wrong_sudo_password_is_a_sudo_error(fake_sudo: Path) -> None:
    sudo_host = NonRootHost(sudo_password=lambda: "wrong")
    with pytest.raises(SudoError, match="refused the password") as refused:
        sudo_host.run(["true"], sudo=True)
    assert SUDO_PASSWORD_ENV in refused.value.hint


def test_sudo_without_a_password_provider_says_how_to_give_one(fake_sudo: Path) -> None:
    with pytest.raises(SudoError, match="needs a password") as refused:
        NonRootHost().run(["true"], sudo=True)
    assert SUDO_PASSWORD_ENV in refused.value.hint
    assert not fake_sudo.exists()


def test_passwordless_sudo_uses_sudo_n_and_never_asks(fake_sudo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SUDO_NOPASSWD", "1")
    sudo_host = NonRootHost(needs_password=False, sudo_password=lambda: pytest.fail("asked for a password"))

    assert sudo_host.run(["echo", "ok"], sudo=True).stdout == "ok\n"
    assert fake_sudo.read_text().splitlines() == ["-n -- echo ok"]


def test_sudo_that_turns_out_to_need_a_password_falls_back_to_asking(fake_sudo: Path) -> None:
    sudo_host = NonRootHost(needs_password=False, sudo_password=lambda: "s3cret pass")
    assert sudo_host.run(["echo", "ok"], sudo=True).stdout == "ok\n"
    assert fake_sudo.read_text().splitlines()[0] == "-n -- echo ok"


def test_missing_sudo_is_a_sudo_error_before_any_password_is_asked(fake_sudo: Path) -> None:
    sudo_host = NonRootHost(has_sudo=False, sudo_password=lambda: pytest.fail("asked for a password"))
    with pytest.raises(SudoError, match="sudo is not installed on this machine"):
        sudo_host.run(["true"], sudo=True)


def test_local_hosts_satisfy_the_host_protocol_and_open_host_picks_them() -> None:
    local = open_host(None)
    assert isinstance(local, LocalHost)
    assert isinstance(local, Host)
    with local as same:
        assert same is local


def test_ssh_hosts_record_host_keys_in_sparkctl_config_dir_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    ssh_host = open_host("spark@spark-01:2222")
    assert ssh_host.known_hosts == tmp_path / "xdg" / "sparkctl" / "known_hosts"  # type: ignore[attr-defined]
    assert ssh_host.name == "spark@spark-01:2222"


def test_importing_hosts_does_not_import_paramiko() -> None:
    probe = "import sys, sparkctl.hosts; print('paramiko' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "False\n"
