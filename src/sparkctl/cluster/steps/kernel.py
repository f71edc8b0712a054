"""Step 2: what kubelet needs of the kernel: no swap, the modules, the sysctls — now and after a reboot."""

from __future__ import annotations

from sparkctl.cluster.actions import Action, WriteFile, run
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.system import FileContent, KernelModules, Swaps, Sysctls
from sparkctl.cluster.steps.base import Check, Done, Drifted, Missing, Step

MODULES = ("overlay", "br_netfilter", "iscsi_tcp")
"""overlay and br_netfilter for containers and pod networking; iscsi_tcp for Longhorn's volumes."""
MODULES_FILE = "/etc/modules-load.d/sparkctl.conf"
SYSCTLS = {
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
    "net.ipv4.ip_forward": "1",
}
SYSCTL_FILE = "/etc/sysctl.d/99-sparkctl-kubernetes.conf"
FSTAB = "/etc/fstab"


def modules_file() -> str:
    return "".join(f"{module}\n" for module in MODULES)


def sysctl_file() -> str:
    return "".join(f"{key} = {value}\n" for key, value in SYSCTLS.items())


def fstab_without_swap(fstab: str) -> str:
    """fstab with every active swap line commented out, everything else as it was."""
    lines = []
    for line in fstab.splitlines(keepends=True):
        fields = line.split()
        if len(fields) >= 3 and not fields[0].startswith("#") and fields[2] == "swap":
            line = "# " + line
        lines.append(line)
    return "".join(lines)


class Kernel(Step):
    number = 2
    name = "kernel"
    title = "Swap off, kernel modules and sysctls"

    def _problems(self, facts: Facts) -> list[str]:
        problems = []
        swaps = facts.get(Swaps())
        if swaps:
            problems.append("swap is on (" + ", ".join(swaps) + ")")
        fstab = facts.get(FileContent(FSTAB)) or ""
        if fstab_without_swap(fstab) != fstab:
            problems.append("fstab turns swap on at boot")
        missing = [module for module in MODULES if module not in facts.get(KernelModules())]
        if missing:
            problems.append("modules not loaded: " + ", ".join(missing))
        if facts.get(FileContent(MODULES_FILE)) != modules_file():
            problems.append(f"modules not persisted in {MODULES_FILE}")
        values = facts.get(Sysctls(*SYSCTLS))
        wrong = [key for key, value in SYSCTLS.items() if values.get(key) != value]
        if wrong:
            problems.append("sysctls not set: " + ", ".join(wrong))
        if facts.get(FileContent(SYSCTL_FILE)) != sysctl_file():
            problems.append(f"sysctls not persisted in {SYSCTL_FILE}")
        return problems

    def check(self, facts: Facts) -> Check:
        problems = self._problems(facts)
        if not problems:
            return Done("swap off; " + ", ".join(MODULES) + " loaded; forwarding sysctls set; all persisted")
        untouched = facts.get(FileContent(MODULES_FILE)) is None and facts.get(FileContent(SYSCTL_FILE)) is None
        return (Missing if untouched else Drifted)("; ".join(problems))

    def actions(self, facts: Facts) -> list[Action]:
        actions: list[Action] = []
        if facts.get(Swaps()):
            actions.append(run("swapoff", "-a"))
        fstab = facts.get(FileContent(FSTAB)) or ""
        if fstab_without_swap(fstab) != fstab:
            actions.append(WriteFile(FSTAB, fstab_without_swap(fstab)))
        loaded = facts.get(KernelModules())
        actions.extend(run("modprobe", module) for module in MODULES if module not in loaded)
        if facts.get(FileContent(MODULES_FILE)) != modules_file():
            actions.append(WriteFile(MODULES_FILE, modules_file()))
        values = facts.get(Sysctls(*SYSCTLS))
        file_differs = facts.get(FileContent(SYSCTL_FILE)) != sysctl_file()
        if file_differs:
            actions.append(WriteFile(SYSCTL_FILE, sysctl_file()))
        if file_differs or any(values.get(key) != value for key, value in SYSCTLS.items()):
            actions.append(run("sysctl", "-p", SYSCTL_FILE))
        return actions
