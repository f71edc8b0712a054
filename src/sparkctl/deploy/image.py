"""The image of the GraphRAG services, localhost/sparkctl-services:<version>: the commands that make its
wheelhouse and build it from services/Containerfile (with buildah, as the tests and services/README.md do, or
with nerdctl and BuildKit into containerd's k8s.io namespace, as `graphrag deploy --build` does on the Spark).

The *_command functions return an argv and run nothing, so `sparkctl graphrag deploy --build` and the tests
run the same commands; make_build_context runs the wheelhouse's. Nothing is downloaded while the image builds
or runs: the wheelhouse, a directory of wheels in the build context, is made beforehand on a machine that
reaches PyPI, and the Containerfile installs from it with `pip install --no-index`; an air-gapped Spark gets
the wheelhouse carried over.

The wheelhouse is made for the Python of the image, not for the one running sparkctl, which may be another
version or machine. pip evaluates environment markers with the interpreter that runs it (redis needs
`async-timeout` only below Python 3.11.3), so `uv pip compile` pins the dependencies for the target's Python
version and platform, `pip download` fetches exactly those wheels for the target, and `pip wheel` builds
sparkctl's own, which is pure Python.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sparkctl.deploy.images import SERVICES

CONTAINERFILE = Path("services") / "Containerfile"
"""From the root of the project."""
WHEELHOUSE = "wheelhouse"
"""The wheelhouse's directory in the build context: the Containerfile's WHEELHOUSE build argument."""
REQUIREMENTS = "requirements.txt"
"""The pinned dependencies, kept in the wheelhouse as the record of what the image holds."""
BUILDAH: tuple[str, ...] = ("buildah",)
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


@dataclass(frozen=True)
class Target:
    """The Python of the image's base, for which the wheelhouse holds wheels."""

    machine: str = "aarch64"
    """`uname -m` where the image runs: aarch64 on the Spark."""
    python: str = "3.11"
    """Its version; without a micro version ("3.11"), markers take 3.11.0."""
    glibc: tuple[int, int] = (2, 36)
    """Its C library: 2.36 in Debian bookworm, which the default base is built on."""

    @property
    def abi(self) -> str:
        major, minor = self.python.split(".")[:2]
        return f"cp{major}{minor}"

    @property
    def uv_platform(self) -> str:
        major, minor = self.glibc
        return f"{self.machine}-manylinux_{major}_{minor}"

    def platform_tags(self) -> list[str]:
        """The manylinux tags of the wheels that run on it, legacy aliases included: pip matches them exactly."""
        major, newest = self.glibc
        oldest = 5 if self.machine in ("x86_64", "i686") else 17
        tags = [f"manylinux_{major}_{minor}_{self.machine}" for minor in range(newest, oldest - 1, -1)]
        return tags + [f"{name}_{self.machine}" for minor, name in _LEGACY_MANYLINUX.items() if oldest <= minor]


def reference() -> str:
    """The image's name and tag, as the chart runs it: the tag is sparkctl's version."""
    return SERVICES.reference


def requirements_command(pyproject: Path, wheel_dir: Path, target: Target, uv: str = "uv") -> list[str]:
    """Pins sparkctl's dependencies with the services extra for the target, into the wheelhouse."""
    options = [f"--python-version={target.python}", f"--python-platform={target.uv_platform}", "--extra=services"]
    output = f"--output-file={wheel_dir / REQUIREMENTS}"
    quiet = ["--quiet", "--no-header", "--no-annotate"]
    return [uv, "pip", "compile", *quiet, "--only-binary=:all:", *options, output, str(pyproject)]


def download_command(wheel_dir: Path, target: Target, python: str = sys.executable) -> list[str]:
    """Fetches the wheels the requirements pin, for the target, into the wheelhouse."""
    platforms = [f"--platform={tag}" for tag in target.platform_tags()]
    interpreter = [f"--python-version={target.python}", "--implementation=cp", f"--abi={target.abi}"]
    files = [f"--dest={wheel_dir}", f"--requirement={wheel_dir / REQUIREMENTS}"]
    pip = [python, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    return [*pip, *platforms, *interpreter, *files]


def project_wheel_command(project: Path, wheel_dir: Path, python: str = sys.executable) -> list[str]:
    """sparkctl's own wheel, from its source tree or sdist, into the wheelhouse."""
    return [python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheel_dir), str(project)]


def wheelhouse_commands(
    project: Path, wheel_dir: Path, target: Target, *, python: str = sys.executable, uv: str = "uv"
) -> list[list[str]]:
    """The whole wheelhouse for the target, from the project's source tree, in the order to run them."""
    return [
        requirements_command(project / "pyproject.toml", wheel_dir, target, uv),
        download_command(wheel_dir, target, python),
        project_wheel_command(project, wheel_dir, python),
    ]


def buildah_command(root: Path | None = None, runroot: Path | None = None, driver: str | None = None) -> list[str]:
    """buildah with its global storage options: a store of its own, or vfs where overlay cannot mount."""
    options = {"--root": root, "--runroot": runroot, "--storage-driver": driver}
    return [*BUILDAH, *(f"{name}={value}" for name, value in options.items() if value is not None)]


def build_command(
    context: Path,
    containerfile: Path,
    *,
    base: str | None = None,
    isolation: str | None = None,
    buildah: Sequence[str] = BUILDAH,
) -> list[str]:
    """Builds the image from the Containerfile, tagged `reference()`; the context holds the wheelhouse.

    Without `base`, the Containerfile's default (a public Python image) is the base; `isolation` is buildah's
    (`chroot` where no user namespace can be made).
    """
    arguments = [f"VERSION={SERVICES.tag}", f"WHEELHOUSE={WHEELHOUSE}"]
    if base is not None:
        arguments.append(f"BASE={base}")
    command = [*buildah, "bud", f"--file={containerfile}", *(f"--build-arg={a}" for a in arguments)]
    if isolation is not None:
        command.append(f"--isolation={isolation}")
    return [*command, f"--tag={reference()}", str(context)]


def nerdctl_build_command(context: Path, containerfile: Path, nerdctl: str = "nerdctl") -> list[str]:
    """Builds the image with nerdctl and BuildKit straight into containerd's k8s.io namespace, tagged
    `reference()`, where the kubelet finds it."""
    arguments = [f"VERSION={SERVICES.tag}", f"WHEELHOUSE={WHEELHOUSE}"]
    build_args = [f"--build-arg={argument}" for argument in arguments]
    return [
        nerdctl,
        "--namespace=k8s.io",
        "build",
        f"--file={containerfile}",
        *build_args,
        f"--tag={reference()}",
        str(context),
    ]


def project_root() -> Path | None:
    """The source tree sparkctl runs from (an editable install of a clone), or None for an installed wheel."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() and (root / CONTAINERFILE).is_file() else None


def make_build_context(project: Path, directory: Path, target: Target) -> Path:
    """The build context as one archive: the Containerfile and a wheelhouse for the target, made here (where
    PyPI is reachable) with the commands above; subprocess errors propagate with their output."""
    import shutil
    import subprocess
    import tarfile

    context = directory / "image"
    wheel_dir = context / WHEELHOUSE
    wheel_dir.mkdir(parents=True, exist_ok=True)
    for command in wheelhouse_commands(project, wheel_dir, target):
        subprocess.run(command, check=True, capture_output=True, text=True)
    shutil.copy2(project / CONTAINERFILE, context / "Containerfile")
    archive = directory / "context.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(context, arcname="image")
    return archive
