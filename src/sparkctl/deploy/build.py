"""`graphrag deploy --build`: the services' image built on the Spark itself, into containerd's k8s.io namespace,
as host steps planned from facts like the cluster's (sparkctl/cluster/plan.py).

nerdctl and BuildKit come from nerdctl's "full" release, pinned and checksum-verified; only nerdctl, buildkitd,
buildctl and BuildKit's systemd unit are taken from it (the Spark keeps its own containerd and runc). The build
context is made on the machine that runs sparkctl: services/Containerfile and a wheelhouse for the Spark's
architecture and Python, so nothing is downloaded on the Spark while the image builds.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sparkctl.cluster.actions import Action, LocalAction, Shell, Target, WriteFile, run
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.runtime import ContainerdImages, Services
from sparkctl.cluster.facts.system import Arch, FileContent
from sparkctl.cluster.pins import debian_arch
from sparkctl.cluster.steps.base import Check, Done, Missing, Refused, Settings, Step
from sparkctl.cluster.steps.runtime import download_verified
from sparkctl.deploy import image

NERDCTL_VERSION = "v2.1.4"
NERDCTL_FULL_SHA256 = {
    "amd64": "03c1a3194b6e5fec02d866a35d0029c694b4cedb865b28f931187aa0c85dd125",
    "arm64": "124b171778f8cc9bb317e094e5a92de5faf6d1bb5f5c9ded4b82a55df2c3c295",
}
"""sha256 of nerdctl-full-2.1.4-linux-ARCH.tar.gz: the digests lima-vm/lima pins in pkg/limayaml/containerd.yaml."""
NERDCTL_MEMBERS = ("bin/nerdctl", "bin/buildkitd", "bin/buildctl", "lib/systemd/system/buildkit.service")
NERDCTL = "/usr/local/bin/nerdctl"
NERDCTL_MARKER = "/usr/local/share/sparkctl/nerdctl-full.version"
"""Written after the install: which pinned release /usr/local holds."""
BUILD_DIR = "/var/lib/sparkctl/build"
CONTEXT_ARCHIVE = f"{BUILD_DIR}/context.tar.gz"
NAMESPACE = "k8s.io"

ContextMaker = Callable[[Path, Path, image.Target], Path]


@dataclass(frozen=True)
class ImageBuild:
    """Where the build context comes from: the source tree (None: sparkctl was not installed from one)."""

    project: Path | None
    make_context: ContextMaker = image.make_build_context


class BuildStep(Step):
    def __init__(self, build: ImageBuild) -> None:
        super().__init__(Settings())
        self.build = build


class BuildKit(BuildStep):
    number = 1
    name = "buildkit"
    title = "nerdctl and BuildKit on the host"

    def check(self, facts: Facts) -> Check:
        installed = (facts.get(FileContent(NERDCTL_MARKER)) or "").strip()
        buildkit = facts.get(Services("buildkit"))["buildkit"]
        if installed == NERDCTL_VERSION and buildkit["active"] == "active" and buildkit["enabled"] == "enabled":
            return Done(f"nerdctl {NERDCTL_VERSION}, buildkit running")
        if installed != NERDCTL_VERSION:
            return Missing(f"nerdctl {NERDCTL_VERSION} is not installed" + (f" ({installed} is)" if installed else ""))
        return Missing(f"buildkit is {buildkit['active'] or 'unknown'} ({buildkit['enabled'] or 'not installed'})")

    def actions(self, facts: Facts) -> list[Action]:
        actions: list[Action] = []
        if (facts.get(FileContent(NERDCTL_MARKER)) or "").strip() != NERDCTL_VERSION:
            arch = debian_arch(facts.get(Arch()))
            release = NERDCTL_VERSION.lstrip("v")
            url = (
                f"https://github.com/containerd/nerdctl/releases/download/{NERDCTL_VERSION}/"
                f"nerdctl-full-{release}-linux-{arch}.tar.gz"
            )
            untar = f'tar -xzf "$tmp" -C /usr/local {" ".join(NERDCTL_MEMBERS)}'
            actions += [
                download_verified(url, NERDCTL_FULL_SHA256[arch], untar),
                WriteFile(NERDCTL_MARKER, f"{NERDCTL_VERSION}\n"),
                run("systemctl", "daemon-reload"),
            ]
        return [*actions, run("systemctl", "enable", "--now", "buildkit")]


class ServicesImageBuilt(BuildStep):
    number = 2
    name = "build"
    title = "The services' image, built into containerd's k8s.io namespace"

    def check(self, facts: Facts) -> Check:
        reference = image.reference()
        if reference in facts.get(ContainerdImages(NAMESPACE)):
            return Done(f"{reference} is in containerd's {NAMESPACE} namespace")
        if self.build.project is None:
            return Refused(
                f"{reference} is not on the host, and this sparkctl was not installed from its source tree",
                "Run `sparkctl graphrag deploy --build` from a clone of the repository (pip install -e .), or build "
                "the image as services/README.md says.",
            )
        return Missing(f"{reference} is not in containerd's {NAMESPACE} namespace")

    def actions(self, facts: Facts) -> list[Action]:
        target = image.Target(machine=facts.get(Arch()))
        build = self.build

        def send_context(on: Target) -> None:
            assert build.project is not None
            with tempfile.TemporaryDirectory(prefix="sparkctl-image-") as scratch:
                archive = build.make_context(build.project, Path(scratch), target)
                on.host.put(CONTEXT_ARCHIVE, archive.read_bytes(), mode=0o600, sudo=True)

        context = Path(BUILD_DIR) / "image"
        return [
            LocalAction(
                f"make the build context here (a wheelhouse for {target.machine}, Python {target.python}, and "
                f"{image.CONTAINERFILE}) and send it to {CONTEXT_ARCHIVE}",
                send_context,
            ),
            Shell(f"rm -rf {context} && tar -xzf {CONTEXT_ARCHIVE} -C {BUILD_DIR}"),
            run(*image.nerdctl_build_command(context, context / "Containerfile", NERDCTL), timeout=3600),
            run("rm", "-rf", BUILD_DIR),
        ]


def build_steps(build: ImageBuild) -> list[Step]:
    return [BuildKit(build), ServicesImageBuilt(build)]
