"""The console's files at /ui on a real orchestrator with keys: served without a key (they hold no data), every
answer with the strict Content-Security-Policy, and nothing outside the console's folder readable."""

from __future__ import annotations

import http.client
import re
from urllib.parse import urlsplit

import httpx
import pytest

from sparkctl.services.orchestrator.console.serving import STATIC_DIR
from support.orchestrator import Start

pytestmark = pytest.mark.integration

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def assert_console_headers(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def raw_get(url: str, path: str) -> tuple[int, str]:
    """GET `path` exactly as written (no client normalises its dot segments)."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def test_the_console_is_served_at_ui_without_a_key_with_a_strict_policy(start_orchestrator: Start) -> None:
    url = start_orchestrator()
    index = (STATIC_DIR / "index.html").read_text()
    for path in ("/ui", "/ui/"):
        page = httpx.get(f"{url}{path}", timeout=30)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert page.text == index
        assert_console_headers(page)
    asset = next(path for path in sorted((STATIC_DIR / "assets").iterdir()) if path.suffix == ".js")
    served = httpx.get(f"{url}/ui/assets/{asset.name}", timeout=30)
    assert served.status_code == 200 and served.content == asset.read_bytes()
    assert "javascript" in served.headers["content-type"]
    assert_console_headers(served)
    missing = httpx.get(f"{url}/ui/assets/nothing-here.js", timeout=30)
    assert missing.status_code == 404
    assert_console_headers(missing)
    assert httpx.get(f"{url}/v1/workspaces", timeout=30).status_code == 401


def test_index_html_holds_no_inline_script_or_style() -> None:
    index = (STATIC_DIR / "index.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", index, re.S | re.I)
    assert scripts and all("src=" in attributes and not body.strip() for attributes, body in scripts)
    assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", index, re.I)
    assert not re.search(r"(src|href)=\"(https?:)?//", index), "nothing may come from another origin"


@pytest.mark.parametrize(
    "path",
    [
        "/ui/../serving.py",
        "/ui/%2e%2e/serving.py",
        "/ui/..%2fserving.py",
        "/ui/assets/../../serving.py",
        "/ui/assets/%2e%2e/%2e%2e/__init__.py",
        "/ui/..%5cserving.py",
        "/ui//etc/passwd",
    ],
)
def test_a_path_leaving_the_console_folder_reads_nothing(start_orchestrator: Start, path: str) -> None:
    url = start_orchestrator()
    status, body = raw_get(url, path)
    assert status in (400, 404), (status, body[:200])
    assert "install_console" not in body and "root:" not in body
