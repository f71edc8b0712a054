"""The console's graph reads (services/lightrag/graph_view.py) on a real LightRAG NetworkX storage, through both
readers: the live NetworkX graph and the batch methods every graph storage has (Neo4j's path in the cluster).
Both must give the same answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lightrag.kg.networkx_impl import NetworkXStorage
from lightrag.kg.shared_storage import initialize_share_data

from sparkctl.services.lightrag import graph_view
from sparkctl.services.lightrag.graph_view import EntityNotFound, LiveGraph, StoredGraph

CODE = {
    "shop.models": "module shop.models in shop/models.py:1-13.",
    "shop.models.Item": "class shop.models.Item in shop/models.py:1-3.\nSignature: class Item",
    "shop.models.Book": "class shop.models.Book in shop/models.py:6-8.\nSignature: class Book(Item)",
    "shop.cart": "module shop.cart in shop/cart.py:1-7.",
    "shop.cart.Cart.total": "method shop.cart.Cart.total in shop/cart.py:5-6.",
}
EDGES = [
    ("shop.models", "shop.models.Item", "contains", "shop.models contains shop.models.Item (shop/models.py:1)"),
    ("shop.models", "shop.models.Book", "contains", "shop.models contains shop.models.Book (shop/models.py:6)"),
    (
        "shop.models.Item",
        "shop.models.Book",
        "inherits",
        "shop.models.Book inherits shop.models.Item (shop/models.py:6)",
    ),
    ("shop.models.Book", "shop.cart", "imports", "shop.cart imports shop.models.Book (shop/cart.py:1)"),
    (
        "shop.models.Book",
        "shop.cart.Cart.total",
        "calls",
        "shop.cart.Cart.total calls shop.models.Book (shop/cart.py:6)",
    ),
    ("Alice", "shop.models.Book", "author,writes", "Alice wrote the Book class"),
]
Reader = Callable[[NetworkXStorage], Any]


@pytest.fixture
async def storage(tmp_path: Path) -> NetworkXStorage:
    initialize_share_data()
    graph = NetworkXStorage(
        namespace="chunk_entity_relation", workspace="shop", global_config={"working_dir": str(tmp_path)},
        embedding_func=None,
    )  # fmt: skip
    await graph.initialize()
    for name, description in CODE.items():
        kind = description.split(" ", 1)[0]
        path = description.split(" in ", 1)[1].split(":", 1)[0].replace("/", "%2F")
        await graph.upsert_node(
            name, {"entity_id": name, "entity_type": kind, "description": description, "source_id": "c1",
                   "file_path": path},
        )  # fmt: skip
    await graph.upsert_node(
        "Alice", {"entity_id": "Alice", "entity_type": "person", "description": "An author.", "source_id": "c2",
                  "file_path": "unknown_source"},
    )  # fmt: skip
    for a, b, keywords, description in EDGES:
        await graph.upsert_edge(
            a, b, {"keywords": keywords, "description": description, "source_id": "c1", "file_path": "x", "weight": 1.0}
        )
    return graph


READERS = [pytest.param(LiveGraph, id="live"), pytest.param(StoredGraph, id="stored")]


@pytest.mark.parametrize("reader", READERS)
async def test_a_neighbourhood_gives_direction_kind_and_location(storage: NetworkXStorage, reader: Reader) -> None:
    around = await graph_view.neighbourhood(reader(storage), "shop.models.Book", 1, 200)

    edges = {(edge["source"], edge["target"]): edge["relation"] for edge in around["edges"]}
    assert edges == {
        ("shop.models", "shop.models.Book"): "contains",
        ("shop.models", "shop.models.Item"): "contains",
        ("shop.models.Book", "shop.models.Item"): "inherits",
        ("shop.cart", "shop.models.Book"): "imports",
        ("shop.cart.Cart.total", "shop.models.Book"): "calls",
        ("Alice", "shop.models.Book"): "related",
    }
    nodes = {node["id"]: node for node in around["nodes"]}
    assert nodes["shop.cart.Cart.total"] == {
        "id": "shop.cart.Cart.total", "label": "total", "type": "method", "file": "shop/cart.py", "line": 5,
        "degree": 1,
    }  # fmt: skip
    assert nodes["Alice"] == {"id": "Alice", "label": "Alice", "type": "person", "file": None, "line": None,
                              "degree": 1}  # fmt: skip
    assert (around["truncated"], around["total_nodes"], around["total_edges"]) == (False, 6, 6)


@pytest.mark.parametrize("reader", READERS)
async def test_the_cap_keeps_the_start_then_the_most_connected(storage: NetworkXStorage, reader: Reader) -> None:
    capped = await graph_view.neighbourhood(reader(storage), "shop.cart", 2, 2)
    assert [node["id"] for node in capped["nodes"]] == ["shop.cart", "shop.models.Book"]
    assert capped["truncated"] and (capped["total_nodes"], capped["total_edges"]) == (6, 6)
    assert [(edge["source"], edge["target"]) for edge in capped["edges"]] == [("shop.cart", "shop.models.Book")]


@pytest.mark.parametrize("reader", READERS)
async def test_search_ranks_exact_then_prefix_then_degree(storage: NetworkXStorage, reader: Reader) -> None:
    found = await graph_view.search(reader(storage), "BOOK", 10)
    assert [item["id"] for item in found] == ["shop.models.Book"]
    found = await graph_view.search(reader(storage), "shop.", 3)
    assert [item["id"] for item in found] == ["shop.models.Book", "shop.models", "shop.models.Item"]
    assert await graph_view.search(reader(storage), "  ", 3) == []


@pytest.mark.parametrize("reader", READERS)
async def test_an_unknown_entity_is_not_found(storage: NetworkXStorage, reader: Reader) -> None:
    with pytest.raises(EntityNotFound):
        await graph_view.neighbourhood(reader(storage), "shop.nothing", 1, 10)
