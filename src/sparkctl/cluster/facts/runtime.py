"""Facts of the container runtime and the packages around it: apt, services, containerd, CNI, NVIDIA."""

from __future__ import annotations

import re
import shlex
from typing import Any

from sparkctl.cluster.facts.base import HostFact


class AptPackages(HostFact[dict[str, str]]):
    """Installed Debian packages, name → version."""

    command = "dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'"
    requires = "dpkg-query"

    def default(self) -> dict[str, str]:
        return {}

    def process(self, output: str) -> dict[str, str]:
        packages = {}
        for line in output.splitlines():
            fields = line.split("\t")
            if len(fields) >= 3 and fields[2].startswith("ii"):
                packages[fields[0].split(":", 1)[0]] = fields[1]
        return packages


class HeldPackages(HostFact[list[str]]):
    """Packages apt will not upgrade (`apt-mark hold`)."""

    command = "apt-mark showhold"
    requires = "apt-mark"

    def default(self) -> list[str]:
        return []

    def process(self, output: str) -> list[str]:
        return sorted(line.strip() for line in output.splitlines() if line.strip())


class Services(HostFact[dict[str, dict[str, str]]]):
    """systemd units' state: name → {"active": …, "enabled": …} ("" when systemd does not know it)."""

    requires = "systemctl"

    def __init__(self, *units: str) -> None:
        self.args = tuple(units)

    def command_line(self) -> str:
        units = " ".join(shlex.quote(unit) for unit in self.args)
        return (
            f"for unit in {units}; do "
            'printf "%s %s %s\\n" "$unit" "$(systemctl is-active "$unit" 2>/dev/null)" '
            '"$(systemctl is-enabled "$unit" 2>/dev/null)"; done'
        )

    def default(self) -> dict[str, dict[str, str]]:
        return {unit: {"active": "", "enabled": ""} for unit in self.args}

    def process(self, output: str) -> dict[str, dict[str, str]]:
        states = self.default()
        for line in output.splitlines():
            fields = [*line.split(), "", ""]
            if fields[0] in states:
                states[fields[0]] = {"active": fields[1], "enabled": fields[2]}
        return states


class NvidiaSmi(HostFact[dict[str, Any]]):
    """The GPUs `nvidia-smi` sees, or why it does not work.

    On the GB10 the memory column says "[N/A]" (unified memory): the budget comes from /proc/meminfo.
    """

    command = "nvidia-smi --query-gpu=name,driver_version,memory.total,mig.mode.current --format=csv,noheader"
    requires = "nvidia-smi"

    def default(self) -> dict[str, Any]:
        return {"installed": False, "works": False, "gpus": [], "error": "nvidia-smi is not installed"}

    def process(self, output: str) -> dict[str, Any]:
        gpus = []
        for line in output.splitlines():
            fields = [field.strip() for field in line.split(",")]
            if len(fields) < 4 or not fields[0]:
                continue
            memory = fields[2].split()[0] if fields[2] else ""
            gpus.append(
                {
                    "name": fields[0],
                    "driver": fields[1],
                    "memory_mib": int(memory) if memory.isdigit() else None,
                    "mig": fields[3],
                }
            )
        error = None if gpus else "nvidia-smi lists no GPU"
        return {"installed": True, "works": bool(gpus), "gpus": gpus, "error": error}

    def failed(self, rc: int, output: str, error: str) -> dict[str, Any]:
        said = (error.strip() or output.strip() or f"exit code {rc}").splitlines()[0]
        return {"installed": True, "works": False, "gpus": [], "error": said}


def _version(output: str) -> str | None:
    match = re.search(r"\bv?(\d+\.\d+\.\d+)", output)
    return match.group(1) if match else None


class NvidiaCtkVersion(HostFact[str | None]):
    """The NVIDIA Container Toolkit's `nvidia-ctk` version, None when it is not installed."""

    command = "nvidia-ctk --version"
    requires = "nvidia-ctk"

    def default(self) -> str | None:
        return None

    def process(self, output: str) -> str | None:
        return _version(output)


class ContainerdVersion(HostFact[str | None]):
    command = "containerd --version"
    requires = "containerd"

    def default(self) -> str | None:
        return None

    def process(self, output: str) -> str | None:
        return _version(output)


class ContainerdDefaultConfig(HostFact[str | None]):
    """`containerd config default`: the base a config is rebuilt from when the CRI plugin is off."""

    command = "containerd config default"
    requires = "containerd"

    def default(self) -> str | None:
        return None

    def process(self, output: str) -> str | None:
        return output


class CniPluginsVersion(HostFact[str | None]):
    """The version of the CNI plugins in /opt/cni/bin, as the bridge plugin reports it."""

    command = "[ -x /opt/cni/bin/bridge ] || exit 0; /opt/cni/bin/bridge 2>&1 | head -n 1"

    def default(self) -> str | None:
        return None

    def process(self, output: str) -> str | None:
        version = _version(output)
        return f"v{version}" if version else None


class KubeadmVersion(HostFact[str | None]):
    command = "kubeadm version -o short"
    requires = "kubeadm"

    def default(self) -> str | None:
        return None

    def process(self, output: str) -> str | None:
        version = _version(output)
        return f"v{version}" if version else None


class ContainerdImages(HostFact[list[str]]):
    """The images in one of containerd's namespaces (k8s.io is the kubelet's), by name."""

    requires = "ctr"
    sudo = True

    def __init__(self, namespace: str) -> None:
        self.args = (namespace,)

    def command_line(self) -> str:
        return f"ctr --connect-timeout 5s --namespace {shlex.quote(self.args[0])} images ls -q"

    def default(self) -> list[str]:
        return []

    def process(self, output: str) -> list[str]:
        return sorted(line.strip() for line in output.splitlines() if line.strip())
