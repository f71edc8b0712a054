"""What the services image's test builds from: a Debian bookworm base image made with debootstrap (no registry
can be pulled from here) and a build context whose wheelhouse is made by sparkctl.deploy.image's own commands
for that base's Python.

Both are cached under ~/.cache/sparkctl-tests, keyed by what they are made from, so a second run only builds
sparkctl's wheel from the working tree: the base image in a buildah store of the tests' own (vfs, which works
where overlay cannot mount), the dependencies' wheels in a directory per pyproject.toml dependency list and
target Python. Building needs root (debootstrap, buildah's chroot isolation); tests skip without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from sparkctl.deploy.image import (
    REQUIREMENTS,
    WHEELHOUSE,
    Target,
    buildah_command,
    download_command,
    project_wheel_command,
    requirements_command,
)

ROOT = Path(__file__).resolve().parents[2]
DEBOOTSTRAP = ("--variant=minbase", "--include=python3,python3-venv,ca-certificates", "bookworm")
BASE_REPOSITORY = "localhost/sparkctl-test-base"
PYTHON_LABEL = "org.sparkctl.tests.python-version"
"""The base image's label giving its python3's full version, which decides the wheelhouse's markers."""
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOOLS = {"buildah": "buildah", "debootstrap": "debootstrap", "unshare": "util-linux", "ip": "iproute2"}
"""Each command the tests run, and the Debian package it comes from."""


def cache_dir() -> Path:
    path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sparkctl-tests"
    path.mkdir(parents=True, exist_ok=True)
    return path


def digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def run(command: Sequence[str], timeout: float = 600) -> str:
    """The command's standard output; a failure fails the test with the end of what the command printed."""
    result = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-6000:]
        pytest.fail(f"{' '.join(command[:4])} … exited with {result.returncode}:\n{output}", pytrace=False)
    return result.stdout


def require_image_tools() -> None:
    """Skips the test where images cannot be built: not root, or a tool missing."""
    if os.geteuid() != 0:
        pytest.skip("building an image needs root here (debootstrap, buildah's chroot isolation)")
    missing = sorted({package for command, package in TOOLS.items() if shutil.which(command) is None})
    if missing:
        pytest.skip(f"not installed: {' '.join(missing)} (apt-get install -y {' '.join(missing)}; .ci/run does)")


def uv_executable() -> str:
    """uv, from the venv's `uv` package or the PATH; the test is skipped without it."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            pytest.skip("uv is not installed (pip install uv): it pins the wheelhouse for the image's Python")
        return found


@dataclass(frozen=True)
class Buildah:
    """buildah on the tests' own store."""

    command: tuple[str, ...]

    def __call__(self, *arguments: str, timeout: float = 600) -> str:
        return run([*self.command, *arguments], timeout)

    def has_image(self, reference: str) -> bool:
        inspect = [*self.command, "inspect", "--type=image", reference]
        return subprocess.run(inspect, capture_output=True, check=False).returncode == 0

    def label(self, reference: str, name: str) -> str:
        return self("inspect", "--type=image", f'--format={{{{index .OCIv1.Config.Labels "{name}"}}}}', reference)

    def run_offline(self, container: str, *command: str, timeout: float = 180) -> str:
        """The command in the container, as the image's user, in a network namespace with only a loopback."""
        inside = [*self.command, "run", "--isolation=chroot", container, "--", *command]
        return run(["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *inside], timeout)


@dataclass(frozen=True)
class BaseImage:
    reference: str
    python: str
    """Its python3's full version."""


@pytest.fixture(scope="session", name="buildah")
def buildah_fixture(tmp_path_factory: pytest.TempPathFactory) -> Buildah:
    """buildah with the cached store (images stay between runs) and a run root of this session."""
    require_image_tools()
    runroot = tmp_path_factory.mktemp("buildah-run")
    return Buildah(tuple(buildah_command(cache_dir() / "buildah", runroot, "vfs")))


@pytest.fixture(scope="session", name="base_image")
def base_image_fixture(buildah: Buildah) -> BaseImage:
    """Debian bookworm with python3, python3-venv and ca-certificates, as the image `localhost/sparkctl-test-base`."""
    reference = f"{BASE_REPOSITORY}:{digest([DEBOOTSTRAP, platform.machine()])}"
    if not buildah.has_image(reference):
        make_base_image(buildah, reference)
    return BaseImage(reference, buildah.label(reference, PYTHON_LABEL).strip())


def make_base_image(buildah: Buildah, reference: str) -> None:
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=".rootfs-") as scratch:
        rootfs = Path(scratch)
        run(["debootstrap", *DEBOOTSTRAP, str(rootfs)], timeout=900)
        for package in (rootfs / "var/cache/apt/archives").glob("*.deb"):
            package.unlink()
        shutil.rmtree(rootfs / "var/lib/apt/lists")
        (rootfs / "var/lib/apt/lists").mkdir()
        python = run(["chroot", str(rootfs), "python3", "-c", "import platform; print(platform.python_version())"])
        container = buildah("from", "scratch").strip()
        try:
            buildah("copy", "--quiet", container, f"{rootfs}/", "/")
            buildah("config", f"--env=PATH={PATH}", f"--label={PYTHON_LABEL}={python.strip()}", container)
            buildah("commit", "--quiet", container, reference)
        finally:
            buildah("rm", container)


def dependency_wheels(target: Target) -> Path:
    """The wheels of sparkctl's dependencies with the services extra for the target, fetched once per
    dependency list and target."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [project["dependencies"], project["optional-dependencies"]["services"], asdict(target)]
    directory = cache_dir() / f"services-wheels-{digest(wanted)}"
    if directory.is_dir():
        return directory
    partial = Path(tempfile.mkdtemp(dir=cache_dir(), prefix=".services-wheels-"))
    try:
        run(requirements_command(ROOT / "pyproject.toml", partial, target, uv_executable()))
        run(download_command(partial, target))
    except BaseException:
        shutil.rmtree(partial)
        raise
    for stale in cache_dir().glob("services-wheels-*"):
        shutil.rmtree(stale)
    partial.rename(directory)
    return directory


@pytest.fixture(scope="session", name="services_context")
def services_context_fixture(base_image: BaseImage, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build context holding the wheelhouse: the cached dependencies and sparkctl's wheel of the working tree."""
    dependencies = dependency_wheels(Target(machine=platform.machine(), python=base_image.python))
    context = tmp_path_factory.mktemp("services-context")
    wheelhouse = context / WHEELHOUSE
    wheelhouse.mkdir()
    for wheel in (*dependencies.glob("*.whl"), dependencies / REQUIREMENTS):
        try:
            os.link(wheel, wheelhouse / wheel.name)
        except OSError:
            shutil.copy2(wheel, wheelhouse / wheel.name)
    run(project_wheel_command(ROOT, wheelhouse))
    return context
