"""Step 1: can this host run the cluster at all? The same checks make `sparkctl doctor`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sparkctl.cluster.actions import Action
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.runtime import NvidiaCtkVersion, NvidiaSmi
from sparkctl.cluster.facts.system import (
    Arch,
    ClockSynchronized,
    CriSockets,
    DiskFree,
    ListeningPorts,
    MemInfo,
    OsRelease,
)
from sparkctl.cluster.steps.base import Check, Done, GiB, Refused, Settings, Step
from sparkctl.quantity import format_bytes

SUPPORTED_ARCHES = ("aarch64", "x86_64")
SUPPORTED_UBUNTU = ("22.04", "24.04")
KUBE_PORTS = {"6443": "kube-apiserver", "10250": "kubelet"}
MIN_MEMORY = 2 * GiB

Status = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class Finding:
    """One preflight check: what was seen, and what to do when it is not right."""

    check: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def blocking(self) -> bool:
        return self.status == "fail"


def preflight(facts: Facts, settings: Settings) -> list[Finding]:
    """Every preflight check, in the order a person would fix them."""
    return [
        _arch(facts),
        _os(facts),
        _nvidia_smi(facts),
        _nvidia_ctk(facts),
        _memory(facts),
        _disk(facts, settings),
        _ports(facts),
        _cri_sockets(facts),
        _clock(facts),
    ]


def _arch(facts: Facts) -> Finding:
    arch = facts.get(Arch())
    if arch in SUPPORTED_ARCHES:
        return Finding("architecture", "pass", arch)
    return Finding("architecture", "fail", f"{arch} is not supported", "Use an aarch64 (DGX Spark) or x86_64 host.")


def _os(facts: Facts) -> Finding:
    release = facts.get(OsRelease())
    name = release.get("PRETTY_NAME") or release.get("ID") or "unknown"
    if release.get("ID") == "ubuntu" and release.get("VERSION_ID") in SUPPORTED_UBUNTU:
        return Finding("operating system", "pass", name)
    return Finding(
        "operating system",
        "fail",
        f"{name} is not Ubuntu 22.04 or 24.04",
        "Run on DGX OS or Ubuntu 22.04/24.04: the steps use Ubuntu's and Docker's apt repositories.",
    )


def _nvidia_smi(facts: Facts) -> Finding:
    smi = facts.get(NvidiaSmi())
    if smi["works"]:
        gpus = ", ".join(f"{gpu['name']} (driver {gpu['driver']})" for gpu in smi["gpus"])
        return Finding("NVIDIA driver", "pass", gpus)
    if not smi["installed"]:
        return Finding(
            "NVIDIA driver", "fail", "nvidia-smi is not installed", "Install the NVIDIA driver (DGX OS ships it)."
        )
    return Finding(
        "NVIDIA driver",
        "fail",
        f"nvidia-smi fails: {smi['error']}",
        "Check the driver (dmesg, `nvidia-smi`); a reboot after a driver update often fixes this.",
    )


def _nvidia_ctk(facts: Facts) -> Finding:
    version = facts.get(NvidiaCtkVersion())
    if version:
        return Finding("NVIDIA Container Toolkit", "pass", f"nvidia-ctk {version}")
    return Finding(
        "NVIDIA Container Toolkit",
        "fail",
        "nvidia-ctk is not installed",
        "Install nvidia-container-toolkit from NVIDIA's apt repository (DGX OS ships it).",
    )


def _memory(facts: Facts) -> Finding:
    total = facts.get(MemInfo()).get("MemTotal", 0)
    detail = f"{format_bytes(total)} (from /proc/meminfo; the GB10's GPU shares it)"
    if total < MIN_MEMORY:
        return Finding("memory", "fail", detail, "kubeadm needs at least 2 GiB of memory.")
    return Finding("memory", "pass", detail)


def _disk(facts: Facts, settings: Settings) -> Finding:
    disk = facts.get(DiskFree("/var/lib"))
    detail = f"{format_bytes(disk['free'])} free on {disk['mount']} (holds /var/lib)"
    if disk["free"] >= settings.min_free_disk:
        return Finding("disk", "pass", detail)
    return Finding(
        "disk",
        "fail",
        f"{detail}; {format_bytes(settings.min_free_disk)} needed for images, volumes and model weights",
        "Free space under /var/lib, or lower the need with --min-free-disk.",
    )


def _ports(facts: Facts) -> Finding:
    listening = facts.get(ListeningPorts())
    taken = {
        port: listening[port]
        for port, owner in KUBE_PORTS.items()
        if port in listening and listening[port] not in ("", owner)
    }
    if taken:
        who = ", ".join(f"{port} by {process}" for port, process in sorted(taken.items()))
        return Finding("ports", "fail", f"taken: {who}", "Stop what listens there: Kubernetes needs 6443 and 10250.")
    ours = [f"{port} ({KUBE_PORTS[port]})" for port in sorted(KUBE_PORTS) if port in listening]
    detail = "6443 and 10250 free" if not ours else "in use by Kubernetes: " + ", ".join(ours)
    return Finding("ports", "pass", detail)


def _cri_sockets(facts: Facts) -> Finding:
    sockets = facts.get(CriSockets())
    others = [socket for socket in sockets if "containerd" not in socket]
    if others:
        return Finding(
            "container runtimes",
            "fail",
            "another CRI runtime is running: " + ", ".join(others),
            "Stop and disable it (crio, cri-dockerd): the cluster uses containerd alone.",
        )
    return Finding("container runtimes", "pass", "containerd" if sockets else "none yet (containerd will be set up)")


def _clock(facts: Facts) -> Finding:
    synced = facts.get(ClockSynchronized())
    if synced:
        return Finding("clock", "pass", "synchronised (NTP)")
    detail = "not synchronised" if synced is False else "cannot tell (timedatectl is missing or does not answer)"
    return Finding(
        "clock", "warn", detail, "Enable time sync (timedatectl set-ntp true): certificates depend on the clock."
    )


class Preflight(Step):
    number = 1
    name = "preflight"
    title = "Preflight checks"
    changes = "none"

    def check(self, facts: Facts) -> Check:
        findings = preflight(facts, self.settings)
        failed = [finding for finding in findings if finding.blocking]
        if failed:
            first = failed[0]
            more = f" (and {len(failed) - 1} more: sparkctl doctor lists them)" if len(failed) > 1 else ""
            return Refused(f"{first.check}: {first.detail}{more}", first.fix)
        warnings = [finding.check for finding in findings if finding.status == "warn"]
        note = f"; warnings: {', '.join(warnings)}" if warnings else ""
        return Done(f"{len(findings)} checks pass{note}")

    def actions(self, facts: Facts) -> list[Action]:
        return []
