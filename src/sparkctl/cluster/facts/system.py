"""Facts of the operating system: architecture, release, memory, swap, kernel, disk, ports, clock, network
interfaces, files and directories."""

from __future__ import annotations

import shlex
from typing import Any

from sparkctl.cluster.facts.base import HostFact

_ABSENT = "__sparkctl_absent__"


class Arch(HostFact[str]):
    """The machine's architecture as `uname -m` says it (aarch64 on the Spark)."""

    command = "uname -m"

    def process(self, output: str) -> str:
        return output.strip()


class Hostname(HostFact[str]):
    """The node name kubeadm will register: the host name in lower case."""

    command = "uname -n"

    def process(self, output: str) -> str:
        return output.strip().lower()


class OsRelease(HostFact[dict[str, str]]):
    """/etc/os-release as a dict (ID, VERSION_ID, PRETTY_NAME, …); empty when there is none."""

    command = "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release"

    def default(self) -> dict[str, str]:
        return {}

    def process(self, output: str) -> dict[str, str]:
        values: dict[str, str] = {}
        for line in output.splitlines():
            key, equals, value = line.strip().partition("=")
            if not equals or key.startswith("#"):
                continue
            try:
                parts = shlex.split(value)
            except ValueError:
                parts = [value.strip("\"'")]
            values[key] = " ".join(parts)
        return values


class MemInfo(HostFact[dict[str, int]]):
    """/proc/meminfo in bytes. The GB10's GPU shares this memory, and `nvidia-smi` cannot report it."""

    command = "cat /proc/meminfo"

    def process(self, output: str) -> dict[str, int]:
        values: dict[str, int] = {}
        for line in output.splitlines():
            key, colon, rest = line.partition(":")
            fields = rest.split()
            if not colon or not fields or not fields[0].isdigit():
                continue
            unit = 1024 if len(fields) > 1 and fields[1] == "kB" else 1
            values[key.strip()] = int(fields[0]) * unit
        return values


class Swaps(HostFact[list[str]]):
    """The swap areas in use, from /proc/swaps."""

    command = "cat /proc/swaps"

    def default(self) -> list[str]:
        return []

    def process(self, output: str) -> list[str]:
        return [line.split()[0] for line in output.splitlines()[1:] if line.strip()]


class KernelModules(HostFact[list[str]]):
    """Modules loaded now (/proc/modules) and those built into the kernel (modules.builtin)."""

    command = 'cat /proc/modules; cat /lib/modules/"$(uname -r)"/modules.builtin 2>/dev/null; true'

    def process(self, output: str) -> list[str]:
        names: set[str] = set()
        for line in output.splitlines():
            word = line.split(maxsplit=1)[0] if line.strip() else ""
            if word.endswith(".ko"):
                word = word.rsplit("/", 1)[-1].removesuffix(".ko")
            if word:
                names.add(word.replace("-", "_"))
        return sorted(names)


class Sysctls(HostFact[dict[str, str]]):
    """The current values of the given kernel parameters; a parameter the kernel lacks is left out."""

    def __init__(self, *keys: str) -> None:
        self.args = tuple(keys)

    def command_line(self) -> str:
        return "sysctl -e " + " ".join(shlex.quote(key) for key in self.args)

    def default(self) -> dict[str, str]:
        return {}

    def process(self, output: str) -> dict[str, str]:
        values = {}
        for line in output.splitlines():
            key, equals, value = line.partition("=")
            if equals:
                values[key.strip()] = value.strip()
        return values

    def failed(self, rc: int, output: str, error: str) -> dict[str, str]:
        return self.process(output)


class DiskFree(HostFact[dict[str, Any]]):
    """Free bytes on the filesystem that holds `path`, and where that filesystem is mounted."""

    def __init__(self, path: str) -> None:
        self.args = (path,)

    def command_line(self) -> str:
        return f"df -B1 --output=target,avail {shlex.quote(self.args[0])}"

    def process(self, output: str) -> dict[str, Any]:
        fields = output.strip().splitlines()[-1].split()
        return {"mount": fields[0], "free": int(fields[-1])}


class ListeningPorts(HostFact[dict[str, str]]):
    """TCP ports listened on, as port → process name ("" when `ss` may not see it)."""

    command = "ss -Htlnp"
    requires = "ss"
    sudo = True

    def default(self) -> dict[str, str]:
        return {}

    def process(self, output: str) -> dict[str, str]:
        ports: dict[str, str] = {}
        for line in output.splitlines():
            fields = line.split()
            if len(fields) < 4:
                continue
            port = fields[3].rsplit(":", 1)[-1]
            users = next((field for field in fields[4:] if field.startswith("users:")), "")
            name = users.split('"')[1] if users.count('"') >= 2 else ""
            if port.isdigit():
                ports.setdefault(port, name)
        return ports


class ClockSynchronized(HostFact[bool | None]):
    """Whether systemd says the clock is synchronised (NTP); None when it cannot say."""

    command = "timedatectl show -p NTPSynchronized --value"
    requires = "timedatectl"

    def default(self) -> bool | None:
        return None

    def process(self, output: str) -> bool | None:
        value = output.strip().lower()
        return {"yes": True, "no": False}.get(value)


CRI_SOCKETS = (
    "/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
    "/var/run/cri-dockerd.sock",
)


class CriSockets(HostFact[list[str]]):
    """Which container runtime sockets kubeadm would find (more than one makes it ask which)."""

    command = "for socket in " + " ".join(CRI_SOCKETS) + '; do [ -S "$socket" ] && echo "$socket"; done; true'

    def process(self, output: str) -> list[str]:
        return [line.strip() for line in output.splitlines() if line.strip()]


class NetworkInterfaces(HostFact[list[str]]):
    """The host's network interfaces by name (Flannel adds cni0 and flannel.1)."""

    command = "ls -1 /sys/class/net"

    def default(self) -> list[str]:
        return []

    def process(self, output: str) -> list[str]:
        return sorted(line.strip() for line in output.splitlines() if line.strip())


class DirectoryEntries(HostFact[list[str]]):
    """The names in a directory, hidden ones too; empty when it does not exist."""

    sudo = True

    def __init__(self, path: str) -> None:
        self.args = (path,)

    def command_line(self) -> str:
        path = shlex.quote(self.args[0])
        return f"[ -d {path} ] || exit 0; ls -1A -- {path}"

    def default(self) -> list[str]:
        return []

    def process(self, output: str) -> list[str]:
        return sorted(line for line in output.splitlines() if line.strip())


class FileContent(HostFact[str | None]):
    """A file's text; None when the file does not exist."""

    def __init__(self, path: str) -> None:
        self.args = (path,)

    @property
    def path(self) -> str:
        return self.args[0]

    def command_line(self) -> str:
        path = shlex.quote(self.path)
        return f"[ -e {path} ] || {{ echo {_ABSENT}; exit 0; }}; cat -- {path}"

    def script(self) -> str:
        return self.command_line()

    def default(self) -> str | None:
        return None

    def process(self, output: str) -> str | None:
        return None if output.strip() == _ABSENT else output


class SudoFileContent(FileContent):
    """A file only root may read (kubeadm's configuration)."""

    sudo = True


class InvokingUser(HostFact[dict[str, str]]):
    """Who runs sparkctl on the host (the sudo caller when run through sudo), and their home."""

    command = 'user=${SUDO_USER:-$(id -un)}; echo "$user"; id -gn "$user"; getent passwd "$user" | cut -d: -f6'

    def process(self, output: str) -> dict[str, str]:
        name, group, home = [*(line.strip() for line in output.splitlines()), "", "", ""][:3]
        return {"name": name, "group": group or name, "home": home or f"/home/{name}"}
