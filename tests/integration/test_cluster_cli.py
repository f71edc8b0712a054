"""`sparkctl doctor` and `cluster up --dry-run` as a person runs them: on this machine, and over real SSH.

This machine is no Spark (Debian, no GPU): the preflight fails there, and must say so in a table, not a
traceback. The SSH server is a real sshd on 127.0.0.1 (tests/support/sshd.py), so the facts travel over SSH.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sparkctl.local.process import free_port
from support.local_cli import Cli
from support.sshd import SSHServer

pytestmark = pytest.mark.integration


def _ssh_args(server: SSHServer) -> list[str]:
    return ["--host", server.spec, "--identity", str(server.client_key)]


def test_doctor_on_this_machine_fails_with_a_readable_table(cli: Cli) -> None:
    result = cli.run("doctor")

    assert result.returncode == 1
    assert "operating system" in result.stdout
    assert "fail" in result.stdout
    assert "Fix the failed checks above" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_doctor_over_ssh_reads_the_host_with_options_after_the_command(cli: Cli, sshd_server: SSHServer) -> None:
    result = cli.run("doctor", *_ssh_args(sshd_server), "-o", "json")

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["host"] == sshd_server.spec
    checks = {check["check"]: check for check in report["checks"]}
    assert checks["architecture"]["status"] == "pass"
    assert checks["operating system"]["status"] == "fail"
    assert "Debian" in checks["operating system"]["detail"]
    assert checks["NVIDIA driver"]["detail"] == "nvidia-smi is not installed"


def test_cluster_up_dry_run_over_ssh_shows_the_plan_and_changes_nothing(cli: Cli, sshd_server: SSHServer) -> None:
    before = sorted(Path("/etc").glob("**/sparkctl*"))

    result = cli.run(*_ssh_args(sshd_server), "cluster", "up", "--dry-run")

    assert result.returncode == 1
    for step in ("Preflight checks", "kubeadm init", "Flannel", "GPU Operator", "Longhorn", "GPU sharing check"):
        assert step in result.stdout
    assert "kubeadm init --config /etc/sparkctl/kubeadm.yaml" in result.stdout
    assert "Error: step 1 (preflight): operating system" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(Path("/etc").glob("**/sparkctl*")) == before


def test_cluster_up_dry_run_json_is_the_plan(cli: Cli, sshd_server: SSHServer) -> None:
    result = cli.run("cluster", "up", "--dry-run", "--output", "json", *_ssh_args(sshd_server))

    plan = json.loads(result.stdout)
    assert [step["number"] for step in plan["steps"]] == list(range(1, 12))
    assert plan["steps"][0]["state"] == "refused"
    assert plan["steps"][4]["actions"][-1] == "kubeadm init --config /etc/sparkctl/kubeadm.yaml"


def test_refused_key_is_one_clear_line_quickly(cli: Cli, sshd_server: SSHServer) -> None:
    started = time.monotonic()

    result = cli.run("doctor", "--host", sshd_server.spec, "--identity", str(sshd_server.other_key), timeout=30)

    assert time.monotonic() - started < 10
    assert result.returncode == 1
    assert "refused the login" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_host_is_one_clear_line_quickly(cli: Cli, sshd_server: SSHServer) -> None:
    started = time.monotonic()

    result = cli.run("doctor", "--host", f"root@127.0.0.1:{free_port()}", "--identity", str(sshd_server.client_key))

    assert time.monotonic() - started < 10
    assert result.returncode == 1
    assert "refused the connection" in result.stderr
    assert "Traceback" not in result.stderr


def test_cluster_down_dry_run_over_ssh_finds_nothing_of_ours(cli: Cli, sshd_server: SSHServer) -> None:
    result = cli.run("cluster", "down", "--dry-run", "-o", "json", *_ssh_args(sshd_server))

    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["nothing_to_do"] is True
    assert [step["name"] for step in plan["steps"]] == [
        "releases",
        "kubeconfigs",
        "kubeadm-reset",
        "kubernetes-packages",
        "longhorn-data",
    ]
    assert plan["steps"][2]["reason"] == "no cluster on this host: no kubeadm files, no pod network"


def test_cluster_down_without_a_cluster_asks_nothing_and_changes_nothing(cli: Cli, sshd_server: SSHServer) -> None:
    result = cli.run(*_ssh_args(sshd_server), "cluster", "down", "--purge")

    assert result.returncode == 0, result.stderr
    assert "cluster down: plan for" in result.stdout
    assert "Nothing to do" in result.stdout


def test_cluster_join_dry_run_over_ssh_shows_the_worker_plan_and_refuses(cli: Cli, sshd_server: SSHServer) -> None:
    started = time.monotonic()

    result = cli.run(*_ssh_args(sshd_server), "cluster", "join", sshd_server.spec, "--dry-run")

    assert time.monotonic() - started < 10
    assert result.returncode == 1
    for step in ("Preflight checks", "Multipath rule", "kubeadm join as a worker", "GPU slices on the worker"):
        assert step in result.stdout
    assert "does not answer" in result.stdout
    assert "Error: step 1 (preflight): operating system" in result.stderr
    assert "Traceback" not in result.stderr
