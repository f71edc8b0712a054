"""services/Containerfile built with buildah (vfs store, chroot isolation) from a debootstrap base and a wheelhouse
made by sparkctl.deploy.image's commands (tests/support/image_build.py), then run with `buildah run`.

Every command in the image runs as the image's own user, in a network namespace with only a loopback: what
the services need at start must already be in the image. The preprocessor is started for real, as the chart
starts it, and parses a batch over HTTP in two processes; the other services need their stores and models, so
their modules are imported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sparkctl import __version__
from sparkctl.deploy.image import CONTAINERFILE, build_command, reference
from sparkctl.deploy.images import SERVICES
from support.image_build import (  # noqa: F401
    ROOT,
    BaseImage,
    Buildah,
    base_image_fixture,
    buildah_fixture,
    run,
    services_context_fixture,
)

pytestmark = pytest.mark.integration

SERVICE_MODULES = (
    "sparkctl.services.orchestrator.app",
    "sparkctl.services.lightrag.app",
    "sparkctl.services.preprocessor.app",
    "sparkctl.services.worker.service",
)
LIGHTRAG_STORAGES = ("lightrag.kg.postgres_impl", "lightrag.kg.neo4j_impl")
"""LightRAG's storages the service uses: at import they pip-install their drivers if these are missing."""
DRIVERS = ("asyncpg", "pgvector", "neo4j", "redis")
SOURCE = "class Shape:\n    def area(self):\n        return scale(0)\n\n\ndef scale(x):\n    return x * 2\n"

IMPORT_CHECK = """
import importlib, importlib.util, json, os, sys
import pipmaster
from sparkctl.services.lightrag.engine import OfflineTokenizer

def fresh(module):
    # Bytecode written at build time and still valid for its source: nothing to compile on a read-only root.
    cached = importlib.util.cache_from_source(module.__file__)
    if not os.path.exists(cached):
        return False
    with open(cached, "rb") as pyc, open(module.__file__, "rb") as source:
        header, data = pyc.read(16), source.read()
    if int.from_bytes(header[4:8], "little") & 1:
        return header[8:16] == importlib.util.source_hash(data)
    return int.from_bytes(header[8:12], "little") == int(os.stat(module.__file__).st_mtime) & 0xFFFFFFFF

names = json.loads(sys.argv[1])
modules = [importlib.import_module(name) for name in names["modules"]]
print(json.dumps({
    "stale": [module.__name__ for module in modules if not fresh(module)],
    "drivers": {name: pipmaster.is_installed(name) for name in names["drivers"]},
    "tokens": len(OfflineTokenizer().encode("def area(self): return self.width * self.height")),
    "pip": importlib.util.find_spec("pip") is not None,
}))
"""

TREE_SITTER_CHECK = """
import json, sys
from tree_sitter_languages import get_parser
root = get_parser("python").parse(sys.argv[1].encode()).root_node
print(json.dumps({"type": root.type, "children": [child.type for child in root.children], "error": root.has_error}))
"""

PREPROCESSOR_CHECK = """
import json, os, subprocess, sys, time, urllib.request
base = "http://127.0.0.1:8090"
environment = dict(os.environ, SPARKCTL_HOST="127.0.0.1", SPARKCTL_PORT="8090", SPARKCTL_WORKERS="2")
server = subprocess.Popen(["python", "-m", "sparkctl.services.preprocessor"], env=environment, stdout=sys.stderr)
try:
    deadline = time.monotonic() + 90
    while True:
        try:
            health = json.load(urllib.request.urlopen(base + "/health", timeout=2))
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    def post(path, files):
        body = json.dumps({"files": files}).encode()
        request = urllib.request.Request(base + path, body, {"Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(request, timeout=60))["files"]

    files = [{"path": f"pkg/shapes{number}.py", "content": sys.argv[1]} for number in range(16)]
    print(json.dumps({"health": health, "parsed": post("/parse/batch", files)}))
finally:
    server.terminate()
    server.wait(30)
"""


@pytest.fixture(scope="module")
def services_image(buildah: Buildah, base_image: BaseImage, services_context: Path) -> Iterator[str]:
    """The image built from the Containerfile; removed afterwards, with any untagged image the build left."""
    containerfile, base = ROOT / CONTAINERFILE, base_image.reference
    run(build_command(services_context, containerfile, base=base, isolation="chroot", buildah=buildah.command), 1200)
    try:
        yield reference()
    finally:
        buildah("rmi", reference())
        buildah("rmi", "--prune")


@pytest.fixture(scope="module")
def container(buildah: Buildah, services_image: str) -> Iterator[str]:
    name = buildah("from", "--pull=never", "--quiet", services_image).strip()
    try:
        yield name
    finally:
        buildah("rm", name)


def image_config(buildah: Buildah, image: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(buildah("inspect", "--type=image", image))["OCIv1"]["config"]
    return config


def python_in(buildah: Buildah, container: str, script: str, *arguments: str) -> dict[str, Any]:
    """What the script printed as JSON, run by the image's python."""
    answer: dict[str, Any] = json.loads(buildah.run_offline(container, "python", "-c", script, *arguments))
    return answer


def test_the_image_is_tagged_as_the_chart_runs_it(buildah: Buildah, services_image: str) -> None:
    assert services_image == SERVICES.reference == f"localhost/sparkctl-services:{__version__}"
    assert services_image in buildah("images", "--format={{.Name}}:{{.Tag}}").split()
    labels = image_config(buildah, services_image)["Labels"]
    assert labels["org.opencontainers.image.title"] == "sparkctl-services"
    assert labels["org.opencontainers.image.version"] == __version__


def test_runs_as_10001_from_the_venv(buildah: Buildah, services_image: str, container: str) -> None:
    config = image_config(buildah, services_image)
    environment = dict(entry.split("=", 1) for entry in config["Env"])
    assert config["User"] == "10001:10001"
    assert config["Cmd"] == ["python", "-m", "sparkctl.services.orchestrator"]
    assert not config.get("Entrypoint")
    assert config["WorkingDir"] == "/home/sparkctl"
    assert environment["PATH"].split(":")[0] == "/opt/sparkctl/bin"
    assert environment["PYTHONDONTWRITEBYTECODE"] == environment["PYTHONUNBUFFERED"] == "1"
    facts = "id -u; id -g; command -v python; test -w /opt/sparkctl/lib && echo writable || echo read-only"
    assert buildah.run_offline(container, "sh", "-c", facts).split() == [
        "10001",
        "10001",
        "/opt/sparkctl/bin/python",
        "read-only",
    ]


def test_the_services_import_offline_with_nothing_left_to_install(buildah: Buildah, container: str) -> None:
    names = json.dumps({"modules": [*SERVICE_MODULES, *LIGHTRAG_STORAGES], "drivers": DRIVERS})
    answer = python_in(buildah, container, IMPORT_CHECK, names)
    assert answer["drivers"] == dict.fromkeys(DRIVERS, True)
    assert answer["tokens"] > 0
    assert answer["stale"] == []
    assert answer["pip"] is False
    installers = "ls /opt/sparkctl/bin /usr/bin /usr/local/bin | grep -E '^pip[0-9.]*$' || echo none"
    assert buildah.run_offline(container, "sh", "-c", installers).split() == ["none"]


def test_tree_sitter_parses_python_in_the_image(buildah: Buildah, container: str) -> None:
    tree = python_in(buildah, container, TREE_SITTER_CHECK, SOURCE)
    assert tree == {"type": "module", "children": ["class_definition", "function_definition"], "error": False}


def test_the_preprocessor_starts_and_parses_a_batch_in_two_processes(buildah: Buildah, container: str) -> None:
    answer = python_in(buildah, container, PREPROCESSOR_CHECK, SOURCE)
    assert answer["health"] == {"status": "ok"}
    assert [item["path"] for item in answer["parsed"]] == [f"pkg/shapes{number}.py" for number in range(16)]
    for number, item in enumerate(answer["parsed"]):
        module = f"pkg.shapes{number}"
        assert (item["language"], item["error"], item["skipped"]) == ("python", None, None)
        assert {(entity["name"], entity["kind"]) for entity in item["entities"]} == {
            (module, "module"),
            (f"{module}.Shape", "class"),
            (f"{module}.Shape.area", "method"),
            (f"{module}.scale", "function"),
        }


COLLECT_CHECK = """
import json, sys
from pathlib import Path
from sparkctl.digest.collect import Window, collect
collected = collect(Path(sys.argv[1]), Window.parse("1d"))
print(json.dumps({"repository": collected.repository, "subjects": [c.subject for c in collected.commits]}))
"""


def test_git_and_the_digest_collector_work_as_the_images_user(buildah: Buildah, container: str) -> None:
    """What `digest schedule`'s CronJob runs: the git CLI, `sparkctl digest run`, and a collection through git."""
    repository = "/tmp/digest-check/app"
    commit = f"git -C {repository} -c user.name=Ada -c user.email=ada@example.org commit --quiet --allow-empty"
    script = (
        "git --version && sparkctl digest run --help"
        f" && git init --quiet {repository} && {commit} -m 'Add x'"
        f' && python -c "$1" {repository}'
    )
    output = buildah.run_offline(container, "sh", "-c", script, "sh", COLLECT_CHECK)
    lines = output.splitlines()
    assert lines[0].startswith("git version 2.")
    assert "Usage: sparkctl digest run" in output and "--since" in output
    assert json.loads(lines[-1]) == {"repository": "app", "subjects": ["Add x"]}
