"""The console's read routes on the orchestrator: workspaces, the graph explorer and the jobs feed, with the same
keys and workspace bindings as the rest of the API. A small repository is ingested through the whole stack (real
PostgreSQL, Redis, NATS, LightRAG, preprocessor and worker); no LLM is involved in indexing code."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from sparkctl.client import Endpoint, OrchestratorClient
from sparkctl.services.common.embedding import DEFAULT_DIMENSIONS
from sparkctl.services.lightrag.graph_view import MAX_CHUNK_CHARS
from sparkctl.services.orchestrator.routes import jobs as jobs_routes
from support.archives import tarball
from support.codebases import ingest
from support.fake_llm import FakeLLM
from support.orchestrator import Start, wait_for
from support.stack import Stack, WorkerThread, services

pytestmark = pytest.mark.integration

KEYS = "admin-key,a-key:shop-a,b-key:shop-b"
SHOP = [
    ("shop/__init__.py", b""),
    (
        "shop/models.py",
        b"class Item:\n    def price(self):\n        return 1\n\n\n"
        b"class Book(Item):\n    def price(self):\n        return helper()\n\n\n"
        b"def helper():\n    return 2\n",
    ),
    (
        "shop/cart.py",
        b"from shop.models import Book, helper\n\n\nclass Cart:\n    def total(self):\n"
        b"        return Book().price() + helper()\n",
    ),
    ("README.md", b"# Shop\n\nThe Cart holds Book items.\n"),
]
DEPOT = [("depot/__init__.py", b""), ("depot/store.py", b"class Warehouse:\n    def stock(self):\n        return 3\n")]


@dataclass
class Console:
    """An orchestrator with keys bound to workspaces, in front of the whole stack."""

    url: str
    stack: Stack

    def call(
        self, method: str, path: str, key: str | None = "admin-key", workspace: str | None = None, **params: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        if workspace:
            headers["X-Workspace"] = workspace
        return httpx.request(method, f"{self.url}{path}", headers=headers, params=params, timeout=60)

    def get(self, path: str, key: str | None = "admin-key", workspace: str | None = None, **params: Any) -> Any:
        response = self.call("GET", path, key, workspace, **params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def console(graphrag_stack: Stack, start_orchestrator: Start) -> Console:
    url = start_orchestrator(lightrag_url=graphrag_stack.lightrag, api_keys=KEYS)
    return Console(url, graphrag_stack)


@pytest.fixture
def shops(console: Console) -> Console:
    """shop-a holds SHOP, shop-b holds DEPOT."""
    for workspace, files in (("shop-a", SHOP), ("shop-b", DEPOT)):
        job = ingest(console.stack, tarball(files), workspace)
        assert job["status"] == "completed", job["error"]
    return console


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code"}
    return dict(error)


def test_the_workspace_list_counts_what_each_holds_and_a_bound_key_sees_only_its_own(shops: Console) -> None:
    listed = shops.get("/v1/workspaces")
    assert listed["object"] == "list"
    by_name = {item["name"]: item for item in listed["data"]}
    assert sorted(by_name) == ["shop-a", "shop-b"]
    shop = by_name["shop-a"]
    assert (shop["files"], shop["entities"], shop["relations"]) == (4, 9, 14)
    assert 1 <= shop["chunks"] <= shop["entities"], "neighbouring definitions share a chunk"
    assert shop["embedder"] == {"name": "hash", "dimensions": DEFAULT_DIMENSIONS}
    assert shop["last_ingest"]["state"] == "completed" and shop["last_ingest"]["kind"] == "codebase"
    assert shop["last_ingest"]["finished_at"] is not None
    assert by_name["shop-b"]["entities"] == 3

    assert [item["name"] for item in shops.get("/v1/workspaces", key="a-key")["data"]] == ["shop-a"]
    assert shops.get("/v1/workspaces/shop-a", key="a-key") == shop
    assert error_of(shops.call("GET", "/v1/workspaces/shop-b", key="a-key"), 403)["code"] == "workspace_not_allowed"
    assert error_of(shops.call("GET", "/v1/workspaces/empty-one"), 404)["code"] == "workspace_not_found"
    assert error_of(shops.call("GET", "/v1/workspaces/no%20spaces"), 400)["code"] == "invalid_workspace"
    assert error_of(shops.call("GET", "/v1/workspaces", key=None), 401)["code"] == "missing_api_key"
    assert error_of(shops.call("GET", "/v1/workspaces", key="wrong"), 401)["code"] == "invalid_api_key"


def test_entity_search_puts_exact_names_first_then_the_most_connected_and_stays_in_its_workspace(
    shops: Console,
) -> None:
    found = shops.get("/v1/graph/entities", workspace="shop-a", q="CART")["data"]
    assert [item["id"] for item in found] == ["shop.cart", "shop.cart.Cart", "shop.cart.Cart.total"]
    assert found[1] == {"id": "shop.cart.Cart", "name": "shop.cart.Cart", "type": "class", "file": "shop/cart.py"}
    assert len(shops.get("/v1/graph/entities", workspace="shop-a", q="price", limit=1)["data"]) == 1

    assert shops.get("/v1/graph/entities", key="a-key", workspace="shop-a", q="Warehouse")["data"] == []
    assert shops.get("/v1/graph/entities", key="b-key", workspace="shop-b", q="Warehouse")["data"][0]["type"] == "class"
    refused = shops.call("GET", "/v1/graph/entities", key="a-key", workspace="shop-b", q="Warehouse")
    assert error_of(refused, 403)["code"] == "workspace_not_allowed"
    assert error_of(shops.call("GET", "/v1/graph/entities", workspace="shop-a", q=""), 400)["type"] == (
        "invalid_request_error"
    )


def test_the_neighbourhood_of_an_entity_has_its_relations_with_their_direction(shops: Console) -> None:
    around = shops.get("/v1/graph/neighbourhood", workspace="shop-a", entity="shop.models.Book")

    nodes = {node["id"]: node for node in around["nodes"]}
    assert around["nodes"][0]["id"] == "shop.models.Book"
    assert set(nodes) == {
        "shop.models.Book", "shop.models", "shop.models.Item", "shop.models.Book.price", "shop.cart",
        "shop.cart.Cart.total",
    }  # fmt: skip
    assert nodes["shop.models.Book"] == {
        "id": "shop.models.Book", "label": "Book", "type": "class", "file": "shop/models.py", "line": 6, "degree": 5,
    }  # fmt: skip
    edges = {(edge["source"], edge["target"]): edge["relation"] for edge in around["edges"]}
    assert edges == {
        ("shop.models", "shop.models.Book"): "contains",
        ("shop.models", "shop.models.Item"): "contains",
        ("shop.models.Book", "shop.models.Item"): "inherits",
        ("shop.models.Book", "shop.models.Book.price"): "contains",
        ("shop.cart", "shop.models.Book"): "imports",
        ("shop.cart", "shop.models"): "imports",
        ("shop.cart.Cart.total", "shop.models.Book"): "calls",
    }
    assert (around["truncated"], around["total_nodes"], around["total_edges"]) == (False, 6, 7)
    assert len({edge["id"] for edge in around["edges"]}) == 7

    deeper = shops.get("/v1/graph/neighbourhood", workspace="shop-a", entity="shop.models.Book", depth=3)
    assert deeper["total_nodes"] == 9 and not deeper["truncated"]


def test_the_node_cap_keeps_the_nearest_and_most_connected_and_says_what_it_cut(shops: Console) -> None:
    capped = shops.get("/v1/graph/neighbourhood", workspace="shop-a", entity="shop.models.Book", depth=3, max_nodes=3)

    assert [node["id"] for node in capped["nodes"]] == ["shop.models.Book", "shop.cart", "shop.models"]
    assert capped["truncated"] is True
    assert (capped["total_nodes"], capped["total_edges"]) == (9, 14)
    assert {(edge["source"], edge["target"]) for edge in capped["edges"]} == {
        ("shop.models", "shop.models.Book"), ("shop.cart", "shop.models.Book"), ("shop.cart", "shop.models"),
    }  # fmt: skip


@pytest.mark.parametrize(
    "params", [{"depth": 0}, {"depth": 4}, {"max_nodes": 0}, {"max_nodes": 501}, {"depth": "deep"}, {"entity": ""}]
)
def test_neighbourhood_limits_are_refused_in_openai_s_shape(shops: Console, params: dict[str, Any]) -> None:
    query = {"entity": "shop.models.Book"} | params
    error = error_of(shops.call("GET", "/v1/graph/neighbourhood", workspace="shop-a", **query), 400)
    assert error["type"] == "invalid_request_error"
    assert next(iter(params)) in error["message"]


def test_an_entity_of_another_workspace_is_not_found_for_a_key_bound_elsewhere(shops: Console) -> None:
    missing = shops.call("GET", "/v1/graph/neighbourhood", key="a-key", workspace="shop-a", entity="depot.store")
    assert error_of(missing, 404)["code"] == "entity_not_found"
    detail = shops.call("GET", "/v1/graph/entities/depot.store.Warehouse", key="a-key", workspace="shop-a")
    assert error_of(detail, 404)["code"] == "entity_not_found"
    refused = shops.call("GET", "/v1/graph/neighbourhood", key="a-key", workspace="shop-b", entity="depot.store")
    assert error_of(refused, 403)["code"] == "workspace_not_allowed"
    assert shops.get("/v1/graph/neighbourhood", key="b-key", workspace="shop-b", entity="depot.store")["nodes"]


def test_an_entity_shows_where_it_is_and_its_chunk_text(shops: Console) -> None:
    book = shops.get("/v1/graph/entities/shop.models.Book", workspace="shop-a")

    assert (book["id"], book["name"], book["type"], book["file"]) == (
        "shop.models.Book", "shop.models.Book", "class", "shop/models.py",
    )  # fmt: skip
    assert (book["line_start"], book["line_end"]) == (6, 8)
    assert book["description"].startswith("class shop.models.Book in shop/models.py:6-8.")
    assert book["truncated"] is False
    assert len(book["chunks"]) == 1 and book["chunks"][0]["file"] == "shop/models.py"
    assert "class Book(Item):" in book["chunks"][0]["text"]
    assert book["chunks"][0]["id"].startswith("chunk-")


def test_a_long_chunk_is_cut_and_the_entity_says_so(console: Console) -> None:
    lines = [f'    v{index:02d} = "{"x" * 66}"' for index in range(55)]
    source = "\n".join(["def big():", *lines, "    return v00", ""]).encode()
    job = ingest(console.stack, tarball([("big.py", source)]), "shop-a")
    assert job["status"] == "completed", job["error"]

    big = console.get("/v1/graph/entities/big.big", workspace="shop-a")
    assert big["truncated"] is True
    assert [len(chunk["text"]) for chunk in big["chunks"]] == [MAX_CHUNK_CHARS]
    assert big["chunks"][0]["text"].startswith("# big.py:1-")


def test_deleting_a_workspace_clears_every_store_and_waits_for_its_jobs(
    database_url: str, nats_url: str, redis_server: Any, fake_llm: FakeLLM, tmp_path: Path, start_orchestrator: Start
) -> None:
    with services(database_url, nats_url, redis_server.url, fake_llm.url, tmp_path, worker=False) as stack:
        url = start_orchestrator(lightrag_url=stack.lightrag, api_keys=KEYS)
        console = Console(url, stack)
        with OrchestratorClient(Endpoint(stack.orchestrator, "test"), stack.api_key) as api:
            queued = api.upload_codebase(tarball(SHOP), name="shop", workspace="shop-a")
            busy = console.call("DELETE", "/v1/workspaces/shop-a", key="a-key")
            assert error_of(busy, 409)["code"] == "workspace_busy"
            with WorkerThread(stack.worker_settings()):
                assert list(api.follow_job(queued["id"]))[-1]["status"] == "completed"
        chat = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "qwen", "messages": [{"role": "user", "content": "What is a Book?"}]},
            headers={"Authorization": "Bearer a-key", "X-Workspace": "shop-a", "X-Session-Id": "s-1"},
            timeout=60,
        )
        assert chat.status_code == 200, chat.text
        completion_id = chat.headers["x-sparkctl-completion-id"]
        wait_for(lambda: console.call("GET", "/v1/sessions/s-1", key="a-key", workspace="shop-a").status_code == 200)

        deleted = console.call("DELETE", "/v1/workspaces/shop-a", key="a-key")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json() == {"name": "shop-a", "deleted": True, "files": 4, "sessions": 1}

        assert error_of(console.call("GET", "/v1/workspaces/shop-a"), 404)["code"] == "workspace_not_found"
        assert console.get("/v1/workspaces")["data"] == []
        assert console.get("/v1/graph/entities", workspace="shop-a", q="Book")["data"] == []
        assert error_of(console.call("GET", f"/v1/chat/completions/{completion_id}/trace"), 404)
        again = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "qwen", "messages": [{"role": "user", "content": "And now?"}]},
            headers={"Authorization": "Bearer a-key", "X-Workspace": "shop-a", "X-Session-Id": "s-1"},
            timeout=60,
        )
        assert "working=miss" in again.headers["x-sparkctl-memory"]
        with psycopg.connect(database_url) as conn:
            left = conn.execute("SELECT count(*) FROM documents WHERE workspace = 'shop-a'").fetchone()
        assert left == (0,)
    assert error_of(console.call("DELETE", "/v1/workspaces/shop-b", key="a-key"), 403)["code"] == (
        "workspace_not_allowed"
    )


def job_events(console: Console, workspace: str, key: str = "admin-key") -> queue.Queue[Any]:
    """The SSE feed of a workspace's jobs, read in a thread until the server closes it: each job event's data, or
    the response on an error."""
    found: queue.Queue[Any] = queue.Queue()

    def read() -> None:
        with contextlib.suppress(httpx.HTTPError):
            follow()

    def follow() -> None:
        headers = {"Authorization": f"Bearer {key}", "X-Workspace": workspace}
        with httpx.stream("GET", f"{console.url}/v1/jobs/events", headers=headers, timeout=60) as response:
            if response.status_code != 200:
                response.read()
                found.put(response)
                return
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "job":
                    found.put(json.loads(line[6:]))

    threading.Thread(target=read, daemon=True).start()
    return found


def until(events: queue.Queue[Any], condition: Any, timeout: float = 60) -> list[dict[str, Any]]:
    """Events taken until one meets `condition` (that one included)."""
    taken: list[dict[str, Any]] = []
    while True:
        item = events.get(timeout=timeout)
        assert isinstance(item, dict), item
        taken.append(item)
        if condition(item):
            return taken


def test_the_jobs_feed_starts_with_the_newest_jobs_then_sends_each_change(shops: Console) -> None:
    events = job_events(shops, "shop-a", key="a-key")
    first = events.get(timeout=30)
    assert first["workspace"] == "shop-a" and first["status"] == "completed"
    assert set(first) == set(shops.get(f"/v1/jobs/{first['id']}"))

    with OrchestratorClient(Endpoint(shops.stack.orchestrator, "test"), shops.stack.api_key) as api:
        job = api.upload_codebase(tarball([*SHOP, ("shop/extra.py", b"def more():\n    return 3\n")]), name="httpx",
                                  workspace="shop-a")  # fmt: skip
    seen = until(events, lambda item: item["id"] == job["id"] and item["status"] == "completed")
    assert all(item["workspace"] == "shop-a" for item in seen)
    assert seen[-1]["files_done"] == 1 and seen[-1]["files_unchanged"] == 4


def test_the_jobs_feed_wants_a_key_allowed_the_workspace(shops: Console) -> None:
    events = job_events(shops, "shop-b", key="a-key")
    assert error_of(events.get(timeout=30), 403)["code"] == "workspace_not_allowed"
    assert error_of(shops.call("GET", "/v1/jobs/events", key=None, workspace="shop-a"), 401)["code"] == (
        "missing_api_key"
    )


def test_a_quiet_jobs_feed_sends_keepalive_comments(start_orchestrator: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs_routes, "EVENT_KEEPALIVE_SECONDS", 1.0)
    url = start_orchestrator(api_keys=KEYS)
    headers = {"Authorization": "Bearer a-key", "X-Workspace": "shop-a"}
    with httpx.stream("GET", f"{url}/v1/jobs/events", headers=headers, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        first = next(line for line in response.iter_lines() if line)
    assert first == ": keepalive"
