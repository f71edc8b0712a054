"""containerd's config.toml, edited in place with tomlkit so that its layout and comments stay.

Two layouts exist: version 2 (containerd 1.x, CRI plugin "io.containerd.grpc.v1.cri") and version 3
(containerd 2.x, runtimes under "io.containerd.cri.v1.runtime"). Docker's containerd.io package ships
a config that turns the CRI plugin off; such a file is rebuilt from `containerd config default`.
"""

from __future__ import annotations

from typing import Any

import tomlkit
from tomlkit.items import Table

CONFIG_PATH = "/etc/containerd/config.toml"
NVIDIA_DROP_IN = "/etc/containerd/conf.d/99-nvidia.toml"
_CRI_NAMES = ("cri", "io.containerd.grpc.v1.cri")
_RUNTIME_PLUGINS = ("io.containerd.cri.v1.runtime", "io.containerd.grpc.v1.cri")


def _parse(text: str) -> Any:
    return tomlkit.parse(text)


def cri_enabled(text: str) -> bool:
    disabled = _parse(text).get("disabled_plugins", [])
    return not any(name in _CRI_NAMES for name in disabled)


def _runtime_plugin(document: Any) -> Table:
    """The table holding `containerd.runtimes`, created for this file's layout when it is missing."""
    plugins = document.setdefault("plugins", tomlkit.table(is_super_table=True))
    for name in _RUNTIME_PLUGINS:
        if name in plugins:
            return plugins[name]  # type: ignore[no-any-return]
    name = _RUNTIME_PLUGINS[0] if int(document.get("version", 2)) >= 3 else _RUNTIME_PLUGINS[1]
    plugins[name] = tomlkit.table(is_super_table=True)
    return plugins[name]  # type: ignore[no-any-return]


def _runtimes(document: Any) -> dict[str, Any]:
    containerd = _runtime_plugin(document).setdefault("containerd", tomlkit.table(is_super_table=True))
    return containerd.setdefault("runtimes", tomlkit.table(is_super_table=True))  # type: ignore[no-any-return]


def systemd_cgroup_problems(text: str) -> list[str]:
    """Runtimes whose containers would not use the systemd cgroup driver that kubelet uses."""
    runtimes = _runtimes(_parse(text))
    names = [name for name in ("runc", "nvidia") if name in runtimes] or ["runc"]
    return [name for name in names if runtimes.get(name, {}).get("options", {}).get("SystemdCgroup") is not True]


def with_systemd_cgroup(text: str) -> str:
    """The same file with `SystemdCgroup = true` for runc (and nvidia, when present)."""
    document = _parse(text)
    runtimes = _runtimes(document)
    for name in [name for name in ("runc", "nvidia") if name in runtimes] or ["runc"]:
        runtime = runtimes.setdefault(name, tomlkit.table())
        if name == "runc":
            runtime.setdefault("runtime_type", "io.containerd.runc.v2")
        runtime.setdefault("options", tomlkit.table())["SystemdCgroup"] = True
    return tomlkit.dumps(document)


def nvidia_is_default(*texts: str | None) -> bool:
    """Whether the nvidia runtime is configured and the default, in the main file or nvidia-ctk's drop-in."""
    for text in texts:
        if not text:
            continue
        containerd = _runtime_plugin(_parse(text)).get("containerd", {})
        if "nvidia" in containerd.get("runtimes", {}) and containerd.get("default_runtime_name") == "nvidia":
            return True
    return False


def has_nvidia_runtime(*texts: str | None) -> bool:
    for text in texts:
        if text and "nvidia" in _runtime_plugin(_parse(text)).get("containerd", {}).get("runtimes", {}):
            return True
    return False


def wanted_config(current: str | None, default: str | None) -> str | None:
    """The config.toml to write, or None when it cannot be known yet (containerd not installed)."""
    base = current if current and cri_enabled(current) else default
    return None if base is None else with_systemd_cgroup(base)
