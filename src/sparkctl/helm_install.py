"""Helm on the machine that runs sparkctl: found on PATH or in sparkctl's own bin directory, or installed there
from a pinned, checksum-verified download.

The pinned helm is Helm 3 (HELM_VERSION). Its SHA-256 sums are the ones the Helm project published for
v3.20.0 (https://github.com/helm/helm/releases/tag/v3.20.0, the same values that harvester/harvester's
Dockerfile pins), one per archive; `install_helm` refuses any other bytes.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from sparkctl import paths
from sparkctl.errors import ArchiveError, HelmError

if TYPE_CHECKING:
    import httpx

HELM_VERSION = "v3.20.0"
_HELM_SHA256 = {
    "amd64": "dbb4c8fc8e19d159d1a63dda8db655f9ffa4aac1b9a6b188b34a40957119b286",
    "arm64": "bfb14953295d5324d47ab55f3dfba6da28d46c848978c8fbf412d4271bdc29f1",
}
_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_DOWNLOAD_BASE = "https://get.helm.sh"
_MAX_ARCHIVE = 256 * 1024 * 1024
"""Helm's archives are about 20 MB; a server sending far more is refused before the disk fills."""
_CHUNK = 1024 * 1024
ProgressCallback = Callable[[int, int | None], None]
"""Called as bytes arrive: bytes so far, and the total when the server said it."""


@dataclass(frozen=True)
class HelmDownload:
    """One pinned helm archive: where it is and the SHA-256 its bytes must have."""

    url: str
    sha256: str
    version: str
    arch: str

    @property
    def member(self) -> str:
        """The archive member that is the helm binary."""
        return f"linux-{self.arch}/helm"


def helm_download(machine: str) -> HelmDownload:
    """The pinned helm archive for a machine type as `uname -m` prints it (x86_64/amd64, aarch64/arm64)."""
    arch = _ARCHES.get(machine.strip().lower())
    if arch is None:
        raise HelmError(
            f"no helm download is pinned for machine type {machine!r}",
            hint=f"install helm {HELM_VERSION} for this machine by hand and put it on PATH",
        )
    name = f"helm-{HELM_VERSION}-linux-{arch}.tar.gz"
    return HelmDownload(url=f"{_DOWNLOAD_BASE}/{name}", sha256=_HELM_SHA256[arch], version=HELM_VERSION, arch=arch)


def helm_install_dir() -> Path:
    """Where sparkctl installs the helm it downloads."""
    return paths.data_dir() / "bin"


def find_helm() -> Path | None:
    """helm on PATH, else the one sparkctl installed; None when there is neither."""
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path)
    own = helm_install_dir() / "helm"
    if own.is_file() and os.access(own, os.X_OK):
        return own
    return None


def require_helm(why: str) -> Path:
    """helm as find_helm finds it, or a HelmError saying `why` it is needed and how to get it."""
    found = find_helm()
    if found is None:
        raise HelmError(
            f"helm is not installed on this machine, and {why}",
            hint=f"Run `sparkctl cluster up` (its step 8 installs helm {HELM_VERSION}), or install it.",
        )
    return found


def install_helm(
    download: HelmDownload,
    dest_dir: Path,
    *,
    on_progress: ProgressCallback | None = None,
    client: httpx.Client | None = None,
) -> Path:
    """Download the archive, check its SHA-256, and install its helm as dest_dir/helm (mode 0755); the path.

    The archive is refused (ArchiveError) when its checksum differs or any member is a link, a device, or a name
    that leaves the archive; nothing is installed then. `client` is an httpx.Client to use (its proxies, its CA);
    it stays open. Without one, proxies come from the environment (HTTPS_PROXY) and a dead host fails in 10 s.
    """
    import httpx

    dest_dir.mkdir(parents=True, exist_ok=True)
    http = client if client is not None else httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0))
    try:
        with tempfile.TemporaryFile(dir=dest_dir) as archive:
            actual = _fetch(http, download, archive, on_progress)
            if actual != download.sha256.lower():
                raise ArchiveError(
                    f"helm archive {download.url} has SHA-256 {actual}, expected {download.sha256}: refused",
                    hint="the download was altered or truncated on the way; try again, or install helm by hand",
                )
            archive.seek(0)
            return _extract_helm(archive, download, dest_dir)
    finally:
        if client is None:
            http.close()


def _fetch(http: httpx.Client, download: HelmDownload, out: IO[bytes], on_progress: ProgressCallback | None) -> str:
    import httpx

    hint = (
        "if this machine reaches the internet through a proxy, set HTTPS_PROXY; "
        f"or install helm {download.version} by hand and put it on PATH"
    )
    digest = hashlib.sha256()
    try:
        with http.stream("GET", download.url, follow_redirects=True) as response:
            if response.status_code != 200:
                raise HelmError(f"could not download helm from {download.url}: HTTP {response.status_code}", hint=hint)
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            for chunk in response.iter_bytes(_CHUNK):
                done += len(chunk)
                if done > _MAX_ARCHIVE:
                    raise ArchiveError(f"helm archive {download.url} is larger than {_MAX_ARCHIVE} bytes: refused")
                digest.update(chunk)
                out.write(chunk)
                if on_progress is not None:
                    on_progress(done, total)
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise HelmError(f"could not download helm from {download.url}: {reason}", hint=hint) from None
    return digest.hexdigest()


def _extract_helm(archive: IO[bytes], download: HelmDownload, dest_dir: Path) -> Path:
    refused = "install helm by hand and put it on PATH"
    try:
        with tarfile.open(fileobj=archive, mode="r:gz") as tar:
            found: tarfile.TarInfo | None = None
            for member in tar:
                _check_member(member)
                if PurePosixPath(member.name).as_posix() == download.member:
                    if found is not None:
                        raise ArchiveError(f"helm archive holds {download.member} twice: refused", hint=refused)
                    found = member
            if found is None:
                raise ArchiveError(f"helm archive has no {download.member}", hint=refused)
            source = tar.extractfile(found)
            assert source is not None, "_check_member lets only files and directories through"
            return _write_executable(source, dest_dir / "helm")
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ArchiveError(f"corrupt helm archive: {exc}", hint=refused) from None
    except OSError as exc:
        raise HelmError(f"could not install helm in {dest_dir}: {exc}", hint="check that it is writable") from None


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts or "\\" in name:
        raise ArchiveError(f"helm archive member {name!r} points outside the archive: refused")
    if not (member.isfile() or member.isdir()):
        kind = "link" if member.issym() or member.islnk() else "special file"
        raise ArchiveError(f"helm archive member {name!r} is a {kind}: refused")


def _write_executable(source: IO[bytes], target: Path) -> Path:
    """Write beside the target, then rename: a reader sees the old helm or the whole new one, never a part."""
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".helm-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            shutil.copyfileobj(source, handle, _CHUNK)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o755)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return target
