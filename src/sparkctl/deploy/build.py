"""`graphrag deploy --build`: the services' image built on the Spark itself, into containerd's k8s.io namespace,
as host steps planned from facts like the cluster's (sparkctl/cluster/plan.py).

The build is the one the tests run (services/Containerfile with buildah, then `ctr images import`), from a
build context made on the machine that runs sparkctl: a wheelhouse for the Spark's architecture and Python,
so nothing is downloaded on the Spark while the image builds. buildah comes from the host's apt repositories.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sparkctl.cluster.actions import Action, LocalAction, Shell, Target, run
from sparkctl.cluster.facts import Facts
from sparkctl.cluster.facts.runtime import AptPackages, ContainerdImages
from sparkctl.cluster.facts.system import Arch
from sparkctl.cluster.steps.base import Check, Done, Missing, Refused, Settings, Step
from sparkctl.deploy import image

BUILD_DIR = "/var/lib/sparkctl/build"
CONTEXT_ARCHIVE = f"{BUILD_DIR}/context.tar.gz"
IMAGE_ARCHIVE = f"{BUILD_DIR}/image.tar"
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


class Buildah(BuildStep):
    number = 1
    name = "buildah"
    title = "buildah on the host"

    def check(self, facts: Facts) -> Check:
        version = facts.get(AptPackages()).get("buildah")
        return Done(f"buildah {version}") if version else Missing("buildah is not installed")

    def actions(self, facts: Facts) -> list[Action]:
        return [run("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "buildah")]


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
        reference = image.reference()

        def send_context(on: Target) -> None:
            assert build.project is not None
            with tempfile.TemporaryDirectory(prefix="sparkctl-image-") as scratch:
                archive = build.make_context(build.project, Path(scratch), target)
                on.host.put(CONTEXT_ARCHIVE, archive.read_bytes(), mode=0o600, sudo=True)

        context = f"{BUILD_DIR}/image"
        return [
            LocalAction(
                f"make the build context here (a wheelhouse for {target.machine}, Python {target.python}, and "
                f"{image.CONTAINERFILE}) and send it to {CONTEXT_ARCHIVE}",
                send_context,
            ),
            Shell(f"rm -rf {context} && tar -xzf {CONTEXT_ARCHIVE} -C {BUILD_DIR}"),
            run(*image.build_command(Path(context), Path(context) / "Containerfile"), timeout=3600),
            run(*image.archive_command(Path(IMAGE_ARCHIVE)), timeout=1800),
            run(*image.import_command(Path(IMAGE_ARCHIVE)), timeout=1800),
            run("buildah", "rmi", reference),
            run("rm", "-rf", BUILD_DIR),
        ]


def build_steps(build: ImageBuild) -> list[Step]:
    return [Buildah(build), ServicesImageBuilt(build)]
