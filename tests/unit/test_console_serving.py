"""How /ui serves a console folder: a clear 404 before the console is built, no way out of the folder through a
symbolic link, and every built file shipped as package data (pip install alone serves the console)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from sparkctl.services.orchestrator.console.serving import CONTENT_SECURITY_POLICY, STATIC_DIR, install_console

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "sparkctl"


def console_app(folder: Path) -> TestClient:
    app = FastAPI()
    install_console(app, folder)
    return TestClient(app)


def test_an_unbuilt_console_answers_404_saying_how_to_build_it(tmp_path: Path) -> None:
    served = console_app(tmp_path / "static")
    for path in ("/ui", "/ui/", "/ui/assets/index.js"):
        response = served.get(path)
        assert response.status_code == 404, path
        assert "npm run build" in response.text and "index.html" in response.text
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_a_symbolic_link_out_of_the_folder_is_not_followed(tmp_path: Path) -> None:
    folder = tmp_path / "static"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>console</title>")
    (tmp_path / "secret.txt").write_text("not for the browser")
    (folder / "leak.txt").symlink_to(tmp_path / "secret.txt")
    served = console_app(folder)

    assert served.get("/ui/").text == "<!doctype html><title>console</title>"
    leaked = served.get("/ui/leak.txt")
    assert leaked.status_code == 404 and "not for the browser" not in leaked.text
    assert served.post("/ui/").status_code == 405


def test_every_built_console_file_is_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["sparkctl"]
    packaged = {path for pattern in patterns for path in PACKAGE.glob(pattern) if path.is_file()}
    built = {path for path in STATIC_DIR.rglob("*") if path.is_file()}
    assert STATIC_DIR / "index.html" in built
    assert built - packaged == set(), "add them to [tool.setuptools.package-data] in pyproject.toml"
