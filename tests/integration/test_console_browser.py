"""The web console at /ui in real Chromium (Debian's, driven by Playwright for Python) against the whole stack:
orchestrator, LightRAG, preprocessor and worker on real PostgreSQL, Redis and NATS; the LLM is the test double.

A folder chosen on the page or dropped on it becomes a completed job; an entity's neighbourhood is drawn by Cytoscape; a
streamed answer shows its memory trace; a key bound to workspace `a` sees nothing of `b`; hostile file names
and answers are shown as text; the strict Content-Security-Policy is never violated. Each view's screenshot is
saved to build/screenshots/.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from sparkctl.client import Endpoint, OrchestratorClient
from sparkctl.local.servers import EmbeddedServer
from support.archives import tarball
from support.fake_llm import FakeLLM
from support.stack import Stack, WorkerThread, services

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed: apt-get install chromium"),
]

ADMIN_KEY = "console-admin-key"
BOUND_KEY = "console-a-key"
KEYS = f"{ADMIN_KEY},{BOUND_KEY}:a"
HOSTILE = "<img src=x onerror=window.__xss=1>"
"""A file name that runs a script wherever a page puts it into HTML unescaped."""
PNG = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(64)
SHOP: dict[str, bytes] = {
    "shop/__init__.py": b"",
    "shop/models.py": (
        b"class Item:\n    def price(self):\n        return 1\n\n\n"
        b"class Book(Item):\n    def price(self):\n        return helper() + 1\n\n\n"
        b"def helper():\n    return 2\n"
    ),
    "shop/cart.py": (
        b"from shop.models import Book, helper\n\n\n"
        b"class Cart:\n    def __init__(self):\n        self.items = [Book()]\n\n"
        b"    def total(self):\n        return sum(item.price() for item in self.items) + helper()\n"
    ),
    f"shop/{HOSTILE}.py": b"def hostile_helper():\n    return 'an innocent function in a hostile file'\n",
    f"shop/{HOSTILE}.png": PNG,
    "README.md": b"# Shop\n\nA Cart holds Book items; helper prices them.\n",
}
OTHER: dict[str, bytes] = {"vault/secret.py": b"class SecretOfB:\n    def reveal(self):\n        return 42\n"}
CSP_HOOK = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@dataclass
class Console:
    """A page of the console with everything it reported: console messages, uncaught errors."""

    page: Any
    messages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def go(self, hash_route: str) -> None:
        self.page.evaluate("route => { window.location.hash = route; }", hash_route)

    def use_workspace(self, name: str) -> None:
        box = self.page.locator("#workspace")
        box.fill(name)
        box.press("Tab")
        self.page.wait_for_function("name => sessionStorage.getItem('sparkctl.workspace') === name", arg=name)

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"console-{name}.png"))

    def assert_clean(self) -> None:
        """No CSP violation (from the page's own event and from Chromium's console), no uncaught error, no
        script injected by a hostile value."""
        assert self.page.evaluate("window.__csp") == []
        assert [m for m in self.messages if "Content Security Policy" in m or "Content-Security-Policy" in m] == []
        assert self.errors == []
        assert self.page.evaluate("typeof window.__xss") == "undefined"


def api(stack: Stack, path: str, workspace: str | None = None, *, also: tuple[int, ...] = ()) -> Any:
    """What the API answers the admin key (a status other than 200 only when it is one of `also`)."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"} | ({"X-Workspace": workspace} if workspace else {})
    response = httpx.get(f"{stack.orchestrator}{path}", headers=headers, timeout=30)
    assert response.status_code in (200, *also), response.text
    return response.json()


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.fixture(scope="module")
def stack(
    postgres_server: EmbeddedServer,
    nats_server: EmbeddedServer,
    redis_server: EmbeddedServer,
    fake_llm_server: FakeLLM,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The four services for this module, with two keys: one for everything, one bound to workspace `a`;
    `a` holds the shop and `b` another codebase, both ingested through the API."""
    name = f"console_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    database = postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    fake_llm_server.reset()
    data = tmp_path_factory.mktemp("console-stack")
    try:
        with (
            services(
                database, nats_server.url, redis_server.url, fake_llm_server.url, data, worker=False, api_keys=KEYS
            ) as running,
            WorkerThread(running.worker_settings(redis_url=redis_server.url)),
        ):
            running.api_key = ADMIN_KEY
            with OrchestratorClient(Endpoint(running.orchestrator, "test"), ADMIN_KEY) as client:
                for workspace, source, files in (("a", "shop", SHOP), ("b", "vault", OTHER)):
                    job = client.upload_codebase(tarball(list(files.items())), name=source, workspace=workspace)
                    list(client.follow_job(job["id"]))
                    assert client.job(job["id"])["status"] == "completed", client.job(job["id"])["error"]
            yield running
    finally:
        with psycopg.connect(postgres_server.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        _delete_streams(nats_server.url)


def _delete_streams(url: str) -> None:
    import asyncio

    import nats

    async def delete() -> None:
        client = await nats.connect(url)
        stream = client.jetstream()
        for info in await stream.streams_info():
            await stream.delete_stream(info.config.name)
        await client.close()

    asyncio.run(delete())


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    """Chromium, closed before the stack stops (no stream of a page is left open on the orchestrator)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_console(browser: Any, stack: Stack, key: str) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(20_000)
    console = Console(page)
    page.on("console", lambda message: console.messages.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.errors.append(str(error)))
    page.add_init_script(CSP_HOOK)
    page.goto(f"{stack.orchestrator}/ui/")
    page.fill("#api-key", key)
    page.click(".key-prompt button[type=submit]")
    page.wait_for_selector("header nav")
    try:
        yield console
    finally:
        context.close()


@pytest.fixture
def admin(browser: Any, stack: Stack) -> Iterator[Console]:
    yield from open_console(browser, stack, ADMIN_KEY)


@pytest.fixture
def bound_to_a(browser: Any, stack: Stack) -> Iterator[Console]:
    yield from open_console(browser, stack, BOUND_KEY)


def test_the_console_is_served_under_its_content_security_policy(stack: Stack) -> None:
    response = httpx.get(f"{stack.orchestrator}/ui/", timeout=10)

    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe-inline" not in policy
    assets = re.findall(r'(?:src|href)="(/ui/assets/[^"]+)"', response.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    assert "<style" not in response.text and not re.search(r"<script(?![^>]*\bsrc=)", response.text)
    for asset in assets:
        assert httpx.get(f"{stack.orchestrator}{asset}", timeout=10).status_code == 200


def test_a_folder_given_to_the_page_becomes_a_completed_job(admin: Console, stack: Stack, tmp_path: Path) -> None:
    folder = tmp_path / "shop-upload"
    write_tree(folder, SHOP | {".git/HEAD": b"ref: refs/heads/main\n"})
    page = admin.page
    admin.go("#/workspaces")
    page.fill("#ingest-workspace", "upload")
    page.set_input_files("#folder-input", str(folder))

    page.wait_for_url(re.compile(r"#/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("#job[data-status=completed]", timeout=60_000)
    job = api(stack, f"/v1/jobs/{job_id}")
    assert job["status"] == "completed" and job["workspace"] == "upload"
    assert job["skipped"] == {"binary": 1}
    counter = page.locator("[data-counter=indexed] dd")
    assert counter.inner_text() == str(job["files_done"]) and job["files_done"] >= 4
    skipped = page.locator("#skipped-files")
    assert f"{HOSTILE}.png" in skipped.inner_text()
    assert skipped.locator("img").count() == 0
    admin.screenshot("job")

    admin.go("#/jobs")
    page.wait_for_selector(f"tr[data-job='{job_id}'] [data-status=completed]")
    assert page.locator("#jobs tbody tr").count() == len(api(stack, "/v1/jobs?limit=50", "upload")["data"])
    admin.screenshot("jobs")

    admin.go("#/workspaces")
    row = page.locator("tr[data-workspace=upload]")
    row.wait_for()
    stats = api(stack, "/v1/workspaces/upload")
    assert row.locator("td").nth(1).inner_text() == str(stats["files"]) and stats["files"] >= 4
    assert "completed" in row.inner_text()
    admin.screenshot("workspaces")
    admin.assert_clean()


DROP_FOLDER = """({ name, tree, batch }) => {
    // The entries Chromium hands a page for a folder dragged from the file manager (FileSystemDirectoryEntry and
    // FileSystemFileEntry), built from `tree`; a reader gives at most `batch` entries a call, as Chromium gives 100.
    const entry = (name, node) => typeof node === "string"
      ? { name, isFile: true, isDirectory: false, file: (ok) => setTimeout(() => ok(new File([node], name))) }
      : { name, isFile: false, isDirectory: true, createReader: () => {
          const children = Object.entries(node).map(([child, value]) => entry(child, value));
          let at = 0;
          return { readEntries: (ok) => setTimeout(() => ok(children.slice(at, (at += batch)))) };
        } };
    const root = entry(name, tree);
    const drop = new Event("drop", { bubbles: true, cancelable: true });
    Object.defineProperty(drop, "dataTransfer", { value: { items: [{ webkitGetAsEntry: () => root }], files: [] } });
    document.querySelector("#drop-zone").dispatchEvent(drop);
}"""


def test_a_folder_dropped_on_the_page_is_walked_to_its_depth_leaving_out_what_ingest_leaves_out(
    admin: Console, stack: Stack
) -> None:
    """The drag from the desktop is the one part played by a double: the entries are built in the page."""
    tree = {
        "README.md": "# Ledger\n\nThe Ledger keeps balances.\n",
        "ledger": {
            "accounts.py": "class Account:\n    def open(self):\n        return True\n",
            "books.py": "class Book:\n    def close(self):\n        return False\n",
            "deep": {"nested": {"balance.py": "class DeepBalance:\n    def total(self):\n        return 0\n"}},
        },
        "node_modules": {"pad": {"pad.py": "class VendoredPad:\n    pass\n"}},
        ".git": {"HEAD": "ref: refs/heads/main\n"},
    }
    page = admin.page
    admin.go("#/workspaces")
    page.fill("#ingest-workspace", "dropped-folder")

    page.evaluate(DROP_FOLDER, {"name": "ledger-app", "tree": tree, "batch": 2})

    page.wait_for_url(re.compile(r"#/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("#job[data-status=completed]", timeout=60_000)
    job = api(stack, f"/v1/jobs/{job_id}")
    assert (job["status"], job["workspace"], job["files_done"]) == ("completed", "dropped-folder", 4)
    found = {hit["name"] for hit in api(stack, "/v1/graph/entities?q=DeepBalance&limit=5", "dropped-folder")["data"]}
    assert any(name.endswith("DeepBalance") for name in found), found
    vendored = api(stack, "/v1/graph/entities?q=VendoredPad&limit=5", "dropped-folder")["data"]
    assert not any(hit["name"].endswith("VendoredPad") for hit in vendored)
    admin.assert_clean()


def test_a_refused_drop_shows_the_server_message_and_a_workspace_is_deleted_by_its_typed_name(
    admin: Console, stack: Stack
) -> None:
    page = admin.page
    admin.go("#/workspaces")
    page.fill("#ingest-workspace", "dropped")
    page.evaluate(
        """name => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([], name, { type: "application/zip" }));
            const drop = new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true });
            document.querySelector("#drop-zone").dispatchEvent(drop);
        }""",
        "empty.zip",
    )
    refusal = page.locator("#ingest-status .error")
    refusal.wait_for()
    assert refusal.inner_text() == "The orchestrator refused the upload: empty.zip is empty (empty_upload)"

    with OrchestratorClient(Endpoint(stack.orchestrator, "test"), ADMIN_KEY) as client:
        job = client.upload_codebase(
            tarball([("doomed/x.py", b"def doomed():\n    pass\n")]), name="x", workspace="doomed"
        )
        list(client.follow_job(job["id"]))
    page.reload()
    row = page.locator("tr[data-workspace=doomed]")
    row.locator("text=Delete…").click()
    confirm = row.locator("button.danger")
    row.locator("input").fill("doome")
    assert confirm.is_disabled()
    row.locator("input").fill("doomed")
    confirm.click()
    page.locator(".result .ok").wait_for()
    assert page.locator(".result .ok").inner_text().startswith("Deleted doomed: 1 files")
    page.wait_for_function("() => !document.querySelector('tr[data-workspace=doomed]')")
    assert (
        httpx.get(
            f"{stack.orchestrator}/v1/workspaces/doomed", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        ).status_code
        == 404
    )
    admin.assert_clean()


def test_a_wrong_key_is_refused_at_the_prompt_and_forget_key_asks_again(admin: Console) -> None:
    page = admin.page
    page.click("#forget-key")
    page.wait_for_selector("#api-key")
    assert page.evaluate("sessionStorage.getItem('sparkctl.key')") is None

    page.fill("#api-key", "not-a-key")
    page.click(".key-prompt button[type=submit]")
    refusal = page.locator(".key-prompt .error")
    refusal.wait_for()
    assert refusal.inner_text() == "invalid API key (invalid_api_key)"
    assert page.locator("header nav").count() == 0
    page.fill("#api-key", ADMIN_KEY)
    page.click(".key-prompt button[type=submit]")
    page.wait_for_selector("header nav")
    admin.assert_clean()


def test_the_jobs_list_shows_a_new_job_as_it_happens(admin: Console, stack: Stack) -> None:
    page = admin.page
    admin.use_workspace("live")
    admin.go("#/jobs")
    page.wait_for_selector(".stream[data-state=open]")
    assert page.locator("#jobs tbody tr").count() == 0

    with OrchestratorClient(Endpoint(stack.orchestrator, "test"), ADMIN_KEY) as client:
        job = client.upload_codebase(tarball([("live/y.py", b"def y():\n    pass\n")]), name="y", workspace="live")
        list(client.follow_job(job["id"]))
    page.wait_for_selector(f"tr[data-job='{job['id']}'] [data-status=completed]")
    assert page.locator("#jobs tbody tr").count() == 1
    admin.assert_clean()


def test_an_entity_search_draws_its_neighbourhood(admin: Console, stack: Stack) -> None:
    page = admin.page
    admin.use_workspace("a")
    hits = api(stack, "/v1/graph/entities?q=Cart&limit=20", "a")["data"]
    cart = next(hit for hit in hits if hit["name"].endswith("Cart"))
    admin.go("#/graph")
    page.fill("#entity-search", "Cart")
    page.press("#entity-search", "Enter")
    page.click(f"#entity-results a[data-entity='{cart['id']}']")

    page.wait_for_selector(f"#graph-canvas[data-centre='{cart['id']}']:not([data-nodes='0'])")
    expected = api(stack, f"/v1/graph/neighbourhood?entity={cart['id']}&depth=1&max_nodes=200", "a")
    drawn = page.evaluate("window.sparkctlGraph.nodes()")
    assert sorted(node["id"] for node in drawn) == sorted(node["id"] for node in expected["nodes"])
    assert len(drawn) >= 3
    assert page.locator("#graph-status").inner_text().startswith(f"showing {len(expected['nodes'])} nodes")
    types = {node["type"] for node in expected["nodes"]}
    assert {item.get_attribute("data-type") for item in page.locator("#legend li").all()} == types
    assert "shop/cart.py:" in page.locator("#node-location").inner_text()

    neighbour = next(node for node in drawn if node["id"] != cart["id"])
    box = page.locator("#graph-canvas").bounding_box()
    at = (box["x"] + neighbour["x"], box["y"] + neighbour["y"])
    page.mouse.click(*at)
    name = api(stack, f"/v1/graph/entities/{neighbour['id']}", "a")["name"]
    page.wait_for_function("name => document.querySelector('#node-panel h2')?.textContent === name", arg=name)
    page.mouse.dblclick(*at)
    page.wait_for_selector(f"#graph-canvas[data-centre='{neighbour['id']}']")

    page.select_option("#depth", "2")
    page.wait_for_url(re.compile(r"depth=2"))
    depth_2 = api(stack, f"/v1/graph/neighbourhood?entity={neighbour['id']}&depth=2", "a")
    page.wait_for_function(
        "n => window.sparkctlGraph && window.sparkctlGraph.nodes().length === n", arg=len(depth_2["nodes"])
    )
    drawn = page.evaluate("window.sparkctlGraph.nodes()")
    assert sorted(node["id"] for node in drawn) == sorted(node["id"] for node in depth_2["nodes"])
    assert len(drawn) > len(expected["nodes"])
    admin.screenshot("graph")
    admin.assert_clean()


def test_a_neighbourhood_over_the_node_cap_is_cut_and_says_what_was_cut(admin: Console, stack: Stack) -> None:
    page = admin.page
    admin.use_workspace("a")
    cut = api(stack, "/v1/graph/neighbourhood?entity=shop.cart&depth=2&max_nodes=3", "a")
    assert cut["truncated"] and cut["total_nodes"] > 3
    admin.go("#/graph?entity=shop.cart&depth=2&max=3")

    page.wait_for_selector("#graph-canvas[data-centre='shop.cart']:not([data-nodes='0'])")
    assert page.evaluate("window.sparkctlGraph.nodes().length") == len(cut["nodes"]) == 3
    status = page.locator("#graph-status").inner_text()
    assert status.startswith(f"showing 3 of {cut['total_nodes']} nodes")
    assert status.endswith("the neighbourhood was cut at 3 nodes")
    assert page.locator("#max-nodes").input_value() == "3"
    admin.assert_clean()


def test_a_question_streams_its_answer_and_memory_trace(admin: Console, stack: Stack) -> None:
    page = admin.page
    admin.use_workspace("a")
    admin.go("#/chat")
    page.wait_for_selector("#model option", state="attached")
    question = "How does the Cart compute its total?\n\n```python\ndef total(cart):\n    return sum(cart.items)\n```"
    page.fill("#prompt", question)
    page.press("#prompt", "Enter")

    answer = page.locator(".turn.assistant").last
    answer.locator(".answer[data-done=true]").wait_for()
    assert answer.locator(".answer").inner_text().startswith("echo: How does the Cart compute its total?")
    assert answer.locator("pre code.hljs .hljs-keyword").first.inner_text() == "def"
    trace = answer.locator(".trace")
    trace.wait_for()
    completion = trace.get_attribute("data-completion")
    stored = api(stack, f"/v1/chat/completions/{completion}/trace", "a")
    assert [tier.get_attribute("data-tier") for tier in trace.locator(".tier").all()] == [
        tier["tier"] for tier in stored["tiers"]
    ]
    for tier in stored["tiers"]:
        assert trace.locator(f".tier[data-tier={tier['tier']}]").get_attribute("data-status") == tier["status"]
    assert stored["backend"] in trace.locator("summary").first.inner_text()
    admin.screenshot("chat")

    page.fill("#prompt", "And what does the helper return?")
    page.press("#prompt", "Enter")
    second = page.locator(".turn.assistant").nth(1)
    second.locator(".trace").wait_for()
    working = second.locator(".tier[data-tier=working]")
    assert working.get_attribute("data-status") == "hit"
    assert "How does the Cart compute its total?" in working.inner_text()

    session = page.locator("#session-id").inner_text()
    admin.go("#/sessions")
    row = page.locator(f"tr[data-session='{session}']")
    row.wait_for()
    assert row.locator("td").nth(1).inner_text() == "2"
    admin.go(f"#/sessions/{session}")
    page.wait_for_selector("#messages .turn")
    assert page.locator("#messages .turn").count() == 4
    admin.screenshot("sessions")
    page.click("text=Delete…")
    page.click("text=Delete from every tier?")
    page.wait_for_url(re.compile(r"#/sessions$"))
    page.wait_for_selector("#view h1")
    assert page.locator(f"tr[data-session='{session}']").count() == 0
    admin.assert_clean()


def test_a_key_bound_to_workspace_a_does_not_see_workspace_b(bound_to_a: Console, stack: Stack) -> None:
    page = bound_to_a.page
    bound_to_a.go("#/workspaces")
    page.wait_for_selector("#workspaces tbody tr")
    page.wait_for_selector("#workspace-names option", state="attached")

    shown = [row.get_attribute("data-workspace") for row in page.locator("#workspaces tbody tr").all()]
    assert shown == ["a"]
    assert [o.get_attribute("value") for o in page.locator("#workspace-names option").all()] == ["a"]
    assert "SecretOfB" not in page.content()

    bound_to_a.use_workspace("b")
    bound_to_a.go("#/graph")
    page.fill("#entity-search", "SecretOfB")
    page.press("#entity-search", "Enter")
    refusal = page.locator("#entity-results .error")
    refusal.wait_for()
    assert "workspace_not_allowed" in refusal.inner_text()
    assert page.locator("#entity-results a").count() == 0
    bound_to_a.assert_clean()


def test_a_hostile_file_name_and_answer_are_shown_as_text(admin: Console, stack: Stack) -> None:
    page = admin.page
    admin.use_workspace("a")
    admin.go("#/graph?q=hostile_helper")
    result = page.locator("#entity-results li").first
    result.wait_for()
    assert f"{HOSTILE}.py" in result.inner_text()
    result.locator("a").click()
    page.wait_for_function(
        "text => (document.querySelector('#node-location')?.textContent || '').includes(text)", arg=HOSTILE
    )
    assert page.locator("#view img").count() == 0

    admin.go("#/chat")
    page.wait_for_selector("#model option", state="attached")
    page.fill("#prompt", f"What is {HOSTILE} doing here?")
    page.press("#prompt", "Enter")
    answer = page.locator(".turn.assistant .answer[data-done=true]").last
    answer.wait_for()
    assert page.locator("#transcript img").count() == 0
    assert HOSTILE in page.locator(".turn.user").last.inner_text()
    admin.assert_clean()


def test_health_shows_each_service(admin: Console, stack: Stack) -> None:
    page = admin.page
    admin.go("#/health")
    page.wait_for_selector("#services tr")

    report = api(stack, "/ready")
    assert report["status"] == "ready"
    for name, state in report["services"].items():
        assert page.locator(f"#services tr[data-service={name}]").inner_text().split() == [name, state]
    assert page.locator("#readiness").inner_text() == report["status"]
    assert page.locator("#model-servers tbody tr").count() == len(report.get("models") or [])
    admin.screenshot("health")
    admin.assert_clean()
