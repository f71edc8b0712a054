"""Step 3: the container runtime: apt prerequisites, containerd with the NVIDIA runtime, CNI plugins."""

from __future__ import annotations

from dataclasses import dataclass

from sparkctl.cluster import containerd_config, pins
from sparkctl.cluster.actions import Action, Shell, Target, WriteFile, run
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.runtime import (
    AptPackages,
    CniPluginsVersion,
    ContainerdDefaultConfig,
    ContainerdVersion,
    Services,
)
from sparkctl.cluster.facts.system import Arch, FileContent, OsRelease
from sparkctl.cluster.steps.base import Check, Done, Drifted, Missing, Step

PREREQUISITES = ("ca-certificates", "curl", "gpg", "socat", "conntrack", "ethtool", "open-iscsi", "nfs-common")
"""socat and conntrack for kubelet; open-iscsi and nfs-common for Longhorn."""
DOCKER_KEYRING = "/etc/apt/keyrings/docker.asc"
DOCKER_LIST = "/etc/apt/sources.list.d/docker.list"
CNI_BIN = "/opt/cni/bin"


def apt_install(*packages: str) -> Action:
    return run(
        "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "--no-install-recommends", *packages
    )


def docker_list(arch: str, codename: str) -> str:
    return (
        f"deb [arch={pins.debian_arch(arch)} signed-by={DOCKER_KEYRING}] "
        f"https://download.docker.com/linux/ubuntu {codename} stable\n"
    )


def download_verified(url: str, sha256: str, then: str) -> Shell:
    """Download to a temporary file, refuse it unless its SHA-256 matches, then run `then` on "$tmp"."""
    return Shell(
        f'tmp=$(mktemp) && curl -fsSL --retry 3 -o "$tmp" {url} && '
        f'echo "{sha256}  $tmp" | sha256sum -c --quiet - && {then} && rm -f "$tmp"'
    )


@dataclass(frozen=True)
class WriteContainerdDefaults:
    """Write `containerd config default` with SystemdCgroup on, for a containerd installed in this same step."""

    def render(self) -> str:
        return f"write {containerd_config.CONFIG_PATH} (containerd config default, with SystemdCgroup = true)"

    def execute(self, target: Target) -> None:
        default = target.host.run(["containerd", "config", "default"], sudo=True, timeout=60).stdout
        wanted = containerd_config.with_systemd_cgroup(default)
        target.host.put(containerd_config.CONFIG_PATH, wanted.encode(), sudo=True)


class Runtime(Step):
    number = 3
    name = "runtime"
    title = "Packages, containerd with the NVIDIA runtime, CNI plugins"

    def _config_problems(self, facts: Facts) -> list[str]:
        current = facts.get(FileContent(containerd_config.CONFIG_PATH))
        drop_in = facts.get(FileContent(containerd_config.NVIDIA_DROP_IN))
        if current is None:
            return ["no containerd config"]
        problems = []
        if not containerd_config.cri_enabled(current):
            problems.append("containerd's CRI plugin is disabled (Docker's default config)")
        elif containerd_config.systemd_cgroup_problems(current):
            problems.append("containerd does not use the systemd cgroup driver")
        if not containerd_config.nvidia_is_default(current, drop_in):
            problems.append("the NVIDIA runtime is not containerd's default")
        return problems

    def _problems(self, facts: Facts) -> list[str]:
        problems = []
        packages = facts.get(AptPackages())
        missing = [name for name in PREREQUISITES if name not in packages]
        if missing:
            problems.append("packages missing: " + ", ".join(missing))
        if facts.get(ContainerdVersion()) is None:
            problems.append("containerd is not installed")
        version = facts.get(CniPluginsVersion())
        if version is None or pins.Version.parse(version) < pins.Version.parse(pins.CNI_PLUGINS_VERSION):
            problems.append(f"CNI plugins {version or 'missing'} (want {pins.CNI_PLUGINS_VERSION})")
        problems.extend(self._config_problems(facts))
        services = facts.get(Services("containerd", "iscsid"))
        stopped = [
            name for name, state in services.items() if (state["active"], state["enabled"]) != ("active", "enabled")
        ]
        if stopped and facts.get(ContainerdVersion()) is not None:
            problems.append("not running and enabled: " + ", ".join(stopped))
        return problems

    def check(self, facts: Facts) -> Check:
        problems = self._problems(facts)
        if not problems:
            version = facts.get(ContainerdVersion())
            return Done(f"containerd {version} with the NVIDIA runtime as default and SystemdCgroup; CNI plugins")
        fresh = facts.get(ContainerdVersion()) is None
        return (Missing if fresh else Drifted)("; ".join(problems))

    def actions(self, facts: Facts) -> list[Action]:
        actions: list[Action] = []
        packages = facts.get(AptPackages())
        missing = [name for name in PREREQUISITES if name not in packages]
        if missing:
            actions += [run("apt-get", "update"), apt_install(*missing)]
        installs_containerd = facts.get(ContainerdVersion()) is None
        if installs_containerd:
            actions += self._containerd_package(facts)
        actions += self._cni_plugins(facts)
        config_changes = self._config_actions(facts, installs_containerd)
        actions += config_changes
        services = facts.get(Services("containerd", "iscsid"))
        for name in ("containerd", "iscsid"):
            if installs_containerd or services[name] != {"active": "active", "enabled": "enabled"}:
                actions.append(run("systemctl", "enable", "--now", name))
        if config_changes:
            actions.append(run("systemctl", "restart", "containerd"))
        return actions

    def _containerd_package(self, facts: Facts) -> list[Action]:
        release = facts.get(OsRelease())
        codename = release.get("UBUNTU_CODENAME") or release.get("VERSION_CODENAME", "")
        actions: list[Action] = []
        if facts.get(FileContent(DOCKER_KEYRING)) is None:
            actions += [
                run("install", "-m", "0755", "-d", "/etc/apt/keyrings"),
                run("curl", "-fsSL", "--retry", "3", "-o", DOCKER_KEYRING, pins.DOCKER_APT_KEY_URL),
                run("chmod", "a+r", DOCKER_KEYRING),
            ]
        wanted_list = docker_list(facts.get(Arch()), codename)
        if facts.get(FileContent(DOCKER_LIST)) != wanted_list:
            actions.append(WriteFile(DOCKER_LIST, wanted_list))
        return [*actions, run("apt-get", "update"), apt_install("containerd.io")]

    def _cni_plugins(self, facts: Facts) -> list[Action]:
        version = facts.get(CniPluginsVersion())
        if version is not None and pins.Version.parse(version) >= pins.Version.parse(pins.CNI_PLUGINS_VERSION):
            return []
        arch = pins.debian_arch(facts.get(Arch()))
        release = pins.CNI_PLUGINS_VERSION
        url = (
            "https://github.com/containernetworking/plugins/releases/download/"
            f"{release}/cni-plugins-linux-{arch}-{release}.tgz"
        )
        untar = f'mkdir -p {CNI_BIN} && tar -xzf "$tmp" -C {CNI_BIN}'
        return [download_verified(url, pins.CNI_PLUGINS_SHA256[arch], untar)]

    def _config_actions(self, facts: Facts, installs_containerd: bool) -> list[Action]:
        current = facts.get(FileContent(containerd_config.CONFIG_PATH))
        drop_in = facts.get(FileContent(containerd_config.NVIDIA_DROP_IN))
        actions: list[Action] = []
        wanted = containerd_config.wanted_config(current, facts.get(ContainerdDefaultConfig()))
        if wanted is None:
            actions.append(WriteContainerdDefaults())
        elif wanted != current:
            actions.append(WriteFile(containerd_config.CONFIG_PATH, wanted))
        config_rebuilt = current is None or not containerd_config.cri_enabled(current)
        if installs_containerd or config_rebuilt or not containerd_config.nvidia_is_default(current, drop_in):
            actions.append(run("nvidia-ctk", "runtime", "configure", "--runtime=containerd", "--set-as-default"))
        return actions
