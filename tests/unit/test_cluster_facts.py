"""Fact parsers on output captured from real machines (tests/fixtures/raw/, provenance in its README).

Each case: a fact, the captured output and exit code of its command, and the value the steps get.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sparkctl.cluster import containerd_config
from sparkctl.cluster.facts import FactError
from sparkctl.cluster.facts.base import HostFact
from sparkctl.cluster.facts.kubernetes import KubeadmFiles
from sparkctl.cluster.facts.runtime import (
    AptPackages,
    ContainerdVersion,
    KubeadmVersion,
    NvidiaCtkVersion,
    NvidiaSmi,
    Services,
)
from sparkctl.cluster.facts.system import (
    Arch,
    ClockSynchronized,
    CriSockets,
    DirectoryEntries,
    DiskFree,
    FileContent,
    KernelModules,
    ListeningPorts,
    MemInfo,
    NetworkInterfaces,
    OsRelease,
    Swaps,
    Sysctls,
)
from sparkctl.cluster.steps.kernel import SYSCTLS, fstab_without_swap

RAW = Path(__file__).resolve().parent.parent / "fixtures" / "raw"


def raw(name: str) -> str:
    return (RAW / name).read_text()


def test_uname_m_of_this_machine() -> None:
    assert Arch().from_output(0, raw("debian12-ci/uname-m.txt")) == "x86_64"


def test_os_release_of_ubuntu_24_04() -> None:
    release = OsRelease().from_output(0, raw("ubuntu-24.04/os-release.txt"))

    assert (release["ID"], release["VERSION_ID"], release["VERSION_CODENAME"]) == ("ubuntu", "24.04", "noble")
    assert release["PRETTY_NAME"] == "Ubuntu 24.04 LTS"


def test_os_release_of_debian_12() -> None:
    release = OsRelease().from_output(0, raw("debian12-ci/os-release.txt"))

    assert (release["ID"], release["VERSION_ID"]) == ("debian", "12")


def test_meminfo_in_bytes() -> None:
    memory = MemInfo().from_output(0, raw("debian12-ci/proc-meminfo.txt"))

    assert memory["MemTotal"] == 24684084 * 1024
    assert memory["MemAvailable"] == 24302584 * 1024


def test_no_swap_in_use() -> None:
    assert Swaps().from_output(0, raw("debian12-ci/proc-swaps.txt")) == []


def test_swap_in_use() -> None:
    output = (
        "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
        "/swap.img                               file\t\t15728636\t401408\t\t-2\n"
    )

    assert Swaps().from_output(0, output) == ["/swap.img"]


def test_fstab_without_swap_comments_only_swap_lines() -> None:
    fstab = raw("debian12-ci/fstab.txt") + "/swap.img\tnone\tswap\tsw\t0\t0\n"

    assert fstab_without_swap(fstab) == raw("debian12-ci/fstab.txt") + "# /swap.img\tnone\tswap\tsw\t0\t0\n"
    assert fstab_without_swap(raw("debian12-ci/fstab.txt")) == raw("debian12-ci/fstab.txt")


def test_sysctls_read_as_given() -> None:
    values = Sysctls(*SYSCTLS).from_output(0, raw("debian12-ci/sysctl-bridge-forward.txt"))

    assert values == {
        "net.bridge.bridge-nf-call-iptables": "1",
        "net.bridge.bridge-nf-call-ip6tables": "1",
        "net.ipv4.ip_forward": "0",
    }


def test_modules_loaded_and_built_in() -> None:
    output = "overlay 151552 0 - Live 0x0000000000000000\nkernel/net/bridge/br_netfilter.ko\n"

    assert KernelModules().from_output(0, output) == ["br_netfilter", "overlay"]


def test_free_disk_under_var_lib() -> None:
    assert DiskFree("/var/lib").from_output(0, raw("debian12-ci/df-var-lib.txt")) == {"mount": "/", "free": 84833406976}


def test_ports_of_a_kubeadm_control_plane() -> None:
    ports = ListeningPorts().from_output(0, raw("ubuntu-24.04/ss-ltpn.kubeadm-control-plane.txt"))

    assert ports["6443"] == "kube-apiserver"
    assert ports["10250"] == "kubelet"
    assert ports["2379"] == "etcd"


def test_installed_packages_and_versions() -> None:
    packages = AptPackages().from_output(0, raw("debian12-ci/dpkg-query.after-containerd-install.txt"))

    assert packages["containerd"] == "1.6.20~ds1-1+deb12u3"
    assert packages["runc"] == "1.1.5+ds1-1+deb12u1"
    assert len(packages) == 720


@pytest.mark.parametrize(
    ("fact", "name", "expected"),
    [
        (ContainerdVersion(), "containerd-1.7/containerd-version.txt", "1.7.24"),
        (ContainerdVersion(), "containerd-2.x/containerd-version.txt", "2.1.9"),
        (NvidiaCtkVersion(), "nvidia-container-toolkit/nvidia-ctk-version.txt", "1.12.0"),
        (KubeadmVersion(), "ubuntu-24.04/kubeadm-version.default-format.txt", "v1.28.14"),
    ],
)
def test_versions(fact: HostFact[Any], name: str, expected: str) -> None:
    assert fact.from_output(0, raw(name)) == expected


def test_a_missing_tool_is_the_fact_default() -> None:
    missing = "__sparkctl_missing_command__\n"

    assert NvidiaSmi().from_output(0, missing)["installed"] is False
    assert NvidiaCtkVersion().from_output(0, missing) is None
    assert KubeadmVersion().from_output(0, missing) is None
    assert AptPackages().from_output(0, missing) == {}


def test_gb10_reports_no_gpu_memory() -> None:
    name = raw("dgx-spark/nvidia-smi-L.txt").split(": ", 1)[1].split(" (", 1)[0]
    memory = raw("dgx-spark/nvidia-smi-query-gpu-memory-used-total.txt").splitlines()[1].split(",")[1].strip()
    output = f"{name}, 580.173.02, {memory}, [N/A]\n"

    smi = NvidiaSmi().from_output(0, output)

    assert smi["works"] is True
    assert smi["gpus"] == [{"name": "NVIDIA GB10", "driver": "580.173.02", "memory_mib": None, "mig": "[N/A]"}]


def test_nvidia_smi_that_fails_says_why() -> None:
    smi = NvidiaSmi().from_output(
        9, "", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n"
    )

    assert smi["installed"] and not smi["works"]
    assert "couldn't communicate" in smi["error"]


def test_clock_sync_unknown_without_systemd() -> None:
    rc = int(raw("debian12-ci/timedatectl-ntpsynchronized.rc.txt"))

    assert ClockSynchronized().from_output(rc, "", raw("debian12-ci/timedatectl-ntpsynchronized.stderr.txt")) is None
    assert ClockSynchronized().from_output(0, "yes\n") is True


def test_services_state() -> None:
    output = "containerd active enabled\niscsid inactive disabled\n"

    assert Services("containerd", "iscsid", "kubelet").from_output(0, output) == {
        "containerd": {"active": "active", "enabled": "enabled"},
        "iscsid": {"active": "inactive", "enabled": "disabled"},
        "kubelet": {"active": "", "enabled": ""},
    }


def test_file_content_and_absent_file() -> None:
    assert FileContent("/etc/fstab").from_output(0, raw("debian12-ci/fstab.txt")) == raw("debian12-ci/fstab.txt")
    assert FileContent("/nope").from_output(0, "__sparkctl_absent__\n") is None


def test_no_cri_socket_and_no_kubeadm_files() -> None:
    assert CriSockets().from_output(0, "") == []
    assert KubeadmFiles().from_output(0, "/etc/kubernetes/admin.conf\n") == ["/etc/kubernetes/admin.conf"]


def test_network_interfaces_of_this_machine() -> None:
    assert NetworkInterfaces().from_output(0, raw("debian12-ci/ls-sys-class-net.txt")) == ["eth0", "ifb0", "ifb1", "lo"]


def test_directory_entries_and_a_missing_directory() -> None:
    entries = DirectoryEntries("/etc/apt").from_output(0, raw("debian12-ci/ls-A-etc-apt.txt"))

    assert entries[:3] == ["apt.conf.d", "auth.conf.d", "keyrings"]
    assert len(entries) == 7
    assert DirectoryEntries("/var/lib/longhorn").from_output(0, "") == []
    assert DirectoryEntries("/var/lib/longhorn").command_line() == (
        "[ -d /var/lib/longhorn ] || exit 0; ls -1A -- /var/lib/longhorn"
    )


def test_a_fact_without_default_that_fails_is_an_error() -> None:
    with pytest.raises(FactError, match="df: options"):
        DiskFree("/var/lib").from_output(1, "", "df: options -P and --output are mutually exclusive\n")


@pytest.mark.parametrize(
    "name", ["containerd-1.7/containerd-config-default.toml", "containerd-2.x/containerd-config-default.toml"]
)
def test_containerd_default_config_gets_systemd_cgroup_in_place(name: str) -> None:
    default = raw(name)

    edited = containerd_config.with_systemd_cgroup(default)

    assert containerd_config.systemd_cgroup_problems(default) == ["runc"]
    assert containerd_config.systemd_cgroup_problems(edited) == []
    changed = [
        (before, after)
        for before, after in zip(default.splitlines(), edited.splitlines(), strict=True)
        if before != after
    ]
    assert [after.strip() for _, after in changed] == ["SystemdCgroup = true"]


def test_dockers_containerd_config_turns_cri_off() -> None:
    config = raw("docker-containerd.io/etc-containerd-config.toml")

    assert not containerd_config.cri_enabled(config)
    assert containerd_config.wanted_config(config, raw("containerd-1.7/containerd-config-default.toml")) == (
        containerd_config.with_systemd_cgroup(raw("containerd-1.7/containerd-config-default.toml"))
    )
