"""Installing the pinned helm: the archive comes from a real HTTP server on 127.0.0.1 started here.

The archives are built by the tests; the "helm" inside is a small shell script, so that running the installed
file proves it was written whole and executable.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from sparkctl.errors import ArchiveError, HelmError
from sparkctl.helm import Helm
from sparkctl.helm_install import HELM_VERSION, HelmDownload, find_helm, helm_download, helm_install_dir, install_helm
from sparkctl.local.process import free_port
from support.archives import tar_entry, tarball

FAKE_HELM = b'#!/bin/sh\necho "v3.20.0"\n'


class ArchiveServer:
    """Serves bytes by path; every other path is a 404."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def serve(self, data: bytes, arch: str = "amd64", *, sha256: str | None = None) -> HelmDownload:
        """Publish an archive and the download that points at it (by default with the archive's true checksum)."""
        path = f"/helm-{HELM_VERSION}-linux-{arch}.tar.gz"
        self.files[path] = data
        url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        return HelmDownload(url, sha256 or hashlib.sha256(data).hexdigest(), HELM_VERSION, arch)


@pytest.fixture
def archive_server() -> Iterator[ArchiveServer]:
    server = ArchiveServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def helm_archive(arch: str = "amd64", extra: list | None = None) -> bytes:
    """Shaped like Helm's own: linux-ARCH/ with helm, LICENSE and README.md."""
    return tarball(
        [
            tar_entry(f"linux-{arch}/", tarfile.DIRTYPE),
            (f"linux-{arch}/helm", FAKE_HELM),
            (f"linux-{arch}/LICENSE", b"Apache License 2.0\n"),
            (f"linux-{arch}/README.md", b"helm\n"),
            *(extra or []),
        ]
    )


def test_install_helm_verifies_extracts_and_installs_an_executable(archive_server: ArchiveServer, tmp_path: Path):
    archive = helm_archive()
    download = archive_server.serve(archive)
    progress: list[tuple[int, int | None]] = []

    installed = install_helm(download, tmp_path / "bin", on_progress=lambda done, total: progress.append((done, total)))

    assert installed == tmp_path / "bin" / "helm"
    assert installed.read_bytes() == FAKE_HELM
    assert stat.S_IMODE(installed.stat().st_mode) == 0o755
    assert subprocess.run([installed], capture_output=True, text=True, check=True).stdout == "v3.20.0\n"
    assert Helm(installed).version() == "v3.20.0"
    assert progress[-1] == (len(archive), len(archive))
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == ["helm"], "only helm is written, no leftovers"


def test_install_helm_uses_the_client_it_is_given_and_leaves_it_open(archive_server: ArchiveServer, tmp_path: Path):
    seen: list[str] = []
    with httpx.Client(event_hooks={"request": [lambda request: seen.append(str(request.url))]}) as client:
        download = archive_server.serve(helm_archive())
        install_helm(download, tmp_path, client=client)
        assert not client.is_closed
    assert seen == [download.url]
    assert (tmp_path / "helm").read_bytes() == FAKE_HELM


def test_install_helm_replaces_an_older_helm(archive_server: ArchiveServer, tmp_path: Path):
    (tmp_path / "helm").write_bytes(b"#!/bin/sh\necho old\n")
    install_helm(archive_server.serve(helm_archive()), tmp_path)
    assert (tmp_path / "helm").read_bytes() == FAKE_HELM


def test_install_helm_for_arm64_takes_the_arm64_member(archive_server: ArchiveServer, tmp_path: Path):
    archive = tarball([("linux-amd64/helm", b"#!/bin/sh\necho wrong\n"), ("linux-arm64/helm", FAKE_HELM)])
    installed = install_helm(archive_server.serve(archive, "arm64"), tmp_path)
    assert installed.read_bytes() == FAKE_HELM


def test_a_checksum_mismatch_is_refused_and_nothing_is_installed(archive_server: ArchiveServer, tmp_path: Path):
    archive = helm_archive()
    expected = hashlib.sha256(b"the archive the Helm project published").hexdigest()
    old_helm = b"#!/bin/sh\necho old\n"
    (tmp_path / "helm").write_bytes(old_helm)

    with pytest.raises(ArchiveError) as caught:
        install_helm(archive_server.serve(archive, sha256=expected), tmp_path)

    assert expected in caught.value.message
    assert hashlib.sha256(archive).hexdigest() in caught.value.message
    assert caught.value.hint
    assert (tmp_path / "helm").read_bytes() == old_helm, "the helm already there is left alone"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["helm"]


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (("../evil", b"#!/bin/sh\n"), "outside"),
        (("linux-amd64/../../evil", b"#!/bin/sh\n"), "outside"),
        (("/tmp/sparkctl-test-evil", b"#!/bin/sh\n"), "outside"),
        (tar_entry("linux-amd64/escape", tarfile.SYMTYPE, "/etc/passwd"), "link"),
        (tar_entry("linux-amd64/hard", tarfile.LNKTYPE, "/etc/passwd"), "link"),
        (tar_entry("linux-amd64/device", tarfile.CHRTYPE), "special"),
    ],
)
def test_an_archive_with_a_hostile_member_is_refused(archive_server: ArchiveServer, tmp_path: Path, member, reason):
    dest = tmp_path / "bin"
    with pytest.raises(ArchiveError) as caught:
        install_helm(archive_server.serve(helm_archive(extra=[member])), dest)

    assert reason in caught.value.message
    assert not (dest / "helm").exists()
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "evil").exists()
    assert not Path("/tmp/sparkctl-test-evil").exists()


def test_a_helm_member_that_is_a_symlink_is_refused(archive_server: ArchiveServer, tmp_path: Path):
    archive = tarball([tar_entry("linux-amd64/helm", tarfile.SYMTYPE, "/bin/sh")])
    with pytest.raises(ArchiveError, match="link"):
        install_helm(archive_server.serve(archive), tmp_path)
    assert not (tmp_path / "helm").exists()


def test_an_archive_without_the_arch_s_helm_is_refused(archive_server: ArchiveServer, tmp_path: Path):
    with pytest.raises(ArchiveError, match="linux-arm64/helm"):
        install_helm(archive_server.serve(helm_archive("amd64"), "arm64"), tmp_path)
    assert not (tmp_path / "helm").exists()


def test_an_archive_that_is_not_a_gzip_tar_is_refused(archive_server: ArchiveServer, tmp_path: Path):
    with pytest.raises(ArchiveError, match="corrupt"):
        install_helm(archive_server.serve(b"<html>a captive portal's login page</html>"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_archive_cut_inside_helm_is_refused_and_leaves_no_partial_file(
    archive_server: ArchiveServer, tmp_path: Path
):
    archive = tarball([("linux-amd64/helm", os.urandom(256 * 1024))])
    with pytest.raises(ArchiveError, match="corrupt"):
        install_helm(archive_server.serve(archive[: len(archive) // 2]), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_archive_is_a_clear_error(archive_server: ArchiveServer, tmp_path: Path):
    download = archive_server.serve(helm_archive())
    missing = HelmDownload(download.url.replace(".tar.gz", "-gone.tar.gz"), download.sha256, HELM_VERSION, "amd64")
    with pytest.raises(HelmError) as caught:
        install_helm(missing, tmp_path)
    assert "HTTP 404" in caught.value.message
    assert missing.url in caught.value.message
    assert not (tmp_path / "helm").exists()


def test_an_unreachable_url_fails_within_seconds_with_a_hint(tmp_path: Path):
    download = HelmDownload(f"http://127.0.0.1:{free_port()}/helm.tar.gz", "0" * 64, HELM_VERSION, "amd64")
    started = time.monotonic()
    with pytest.raises(HelmError) as caught:
        install_helm(download, tmp_path)
    assert time.monotonic() - started < 5
    assert download.url in caught.value.message
    assert "proxy" in caught.value.hint.lower()
    assert "PATH" in caught.value.hint
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("machine", "arch"), [("x86_64", "amd64"), ("amd64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64")]
)
def test_helm_download_maps_the_machine_to_the_pinned_archive(machine: str, arch: str):
    download = helm_download(machine)
    assert download.arch == arch
    assert download.version == HELM_VERSION
    assert download.url == f"https://get.helm.sh/helm-{HELM_VERSION}-linux-{arch}.tar.gz"
    assert len(download.sha256) == 64
    assert int(download.sha256, 16) > 0
    assert download.member == f"linux-{arch}/helm"


def test_each_arch_has_its_own_checksum():
    assert helm_download("x86_64").sha256 != helm_download("aarch64").sha256


@pytest.mark.parametrize("machine", ["armv7l", "ppc64le", "riscv64", ""])
def test_helm_download_for_an_unsupported_machine_names_it(machine: str):
    with pytest.raises(HelmError) as caught:
        helm_download(machine)
    assert repr(machine) in caught.value.message
    assert "PATH" in caught.value.hint


def test_find_helm_prefers_path_then_sparkctl_s_own(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_helm() is None

    own = helm_install_dir() / "helm"
    assert own == tmp_path / "data" / "sparkctl" / "bin" / "helm"
    own.parent.mkdir(parents=True)
    own.write_bytes(FAKE_HELM)
    assert find_helm() is None, "a helm that is not executable is not found"
    os.chmod(own, 0o755)
    assert find_helm() == own

    on_path = tmp_path / "path" / "helm"
    on_path.parent.mkdir()
    on_path.write_bytes(FAKE_HELM)
    os.chmod(on_path, 0o755)
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert find_helm() == on_path
