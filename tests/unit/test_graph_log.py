"""The graph log of the NetworkX storage: the state of each changed node and edge, replayed in order; rewritten
whole once it holds too many records; a workspace of GraphML and journal moved into it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import networkx as nx
import pytest
from lightrag.kg.shared_storage import initialize_share_data

from sparkctl.services.lightrag.graph_storage import (
    BulkNetworkXStorage,
    append_log,
    change_records,
    deferred_graph_writes,
    replay_log,
)


def graph_of(nodes: dict[str, dict[str, object]], edges: dict[tuple[str, str], dict[str, object]]) -> nx.Graph:
    graph = nx.Graph()
    for node, data in nodes.items():
        graph.add_node(node, **data)
    for (source, target), data in edges.items():
        graph.add_edge(source, target, **data)
    return graph


def same(first: nx.Graph, second: nx.Graph) -> bool:
    return dict(first.nodes(data=True)) == dict(second.nodes(data=True)) and {
        frozenset(edge[:2]): edge[2] for edge in first.edges(data=True)
    } == {frozenset(edge[:2]): edge[2] for edge in second.edges(data=True)}


def test_replaying_the_changes_onto_the_old_graph_gives_the_new_one(tmp_path: Path) -> None:
    old = graph_of(
        {"a": {"description": "A", "weight": 1}, "b": {"description": "B"}, "c": {"description": "C"}},
        {("a", "b"): {"keywords": "calls"}, ("b", "c"): {"keywords": "contains"}},
    )
    new = old.copy()
    new.remove_node("c")
    new.add_node("a", description="A again")
    del new.nodes["a"]["weight"]
    new.add_node("d", description='Dé, with ünïcode and <xml> & "quotes"\nover two lines')
    new.add_edge("a", "d", keywords="imports", created_at=1700000000)
    log = tmp_path / "graph.jsonl"
    assert append_log(log, change_records(new, {"a", "c", "d"}, {("b", "c"), ("a", "d")})) == 5

    replayed = old.copy()
    assert replay_log(replayed, log) == 5
    assert same(replayed, new)


def test_a_node_removed_and_added_again_does_not_keep_its_old_edges(tmp_path: Path) -> None:
    old = graph_of({"a": {}, "b": {}}, {("a", "b"): {"keywords": "calls"}})
    new = graph_of({"a": {"description": "new"}, "b": {}}, {})
    log = tmp_path / "graph.jsonl"
    append_log(log, change_records(new, {"a"}, {("a", "b")}))

    assert replay_log(old, log) == 2
    assert same(old, new)


def test_writes_replay_in_order_and_a_record_cut_short_by_a_crash_is_cut_off(tmp_path: Path) -> None:
    graph = graph_of({"a": {"v": 1}}, {})
    log = tmp_path / "graph.jsonl"
    append_log(log, change_records(graph_of({"a": {"v": 2}}, {}), {"a"}, set()))
    append_log(log, change_records(graph_of({"a": {"v": 3}}, {}), {"a"}, set()))
    complete = log.stat().st_size
    with log.open("a", encoding="utf-8") as file:
        file.write('["n","a",{"v":')

    assert replay_log(graph, log) == 2
    assert graph.nodes["a"] == {"v": 3}
    assert log.stat().st_size == complete


def test_no_log_is_no_change(tmp_path: Path) -> None:
    graph = graph_of({"a": {}}, {})
    assert replay_log(graph, tmp_path / "missing.jsonl") == 0
    assert list(graph.nodes) == ["a"]


@pytest.fixture
async def opened(tmp_path: Path) -> AsyncIterator[list[BulkNetworkXStorage]]:
    """Storages opened on tmp_path's workspace `w`, each finalized at the end."""
    initialize_share_data()
    storages: list[BulkNetworkXStorage] = []
    yield storages
    for storage in storages:
        await storage.finalize()


async def open_storage(tmp_path: Path, opened: list[BulkNetworkXStorage]) -> BulkNetworkXStorage:
    storage = BulkNetworkXStorage(
        namespace="chunk_entity_relation",
        workspace="w",
        global_config={"working_dir": str(tmp_path)},
        embedding_func=None,
    )
    await storage.initialize()
    opened.append(storage)
    return storage


def lines(path: Path) -> int:
    return len(path.read_text().splitlines())


async def test_a_first_write_is_the_graph_later_ones_append_and_too_long_a_log_is_rewritten(
    tmp_path: Path, opened: list[BulkNetworkXStorage]
) -> None:
    storage = await open_storage(tmp_path, opened)
    with deferred_graph_writes():
        await storage.upsert_nodes_batch([(f"n{index}", {"entity_id": f"n{index}"}) for index in range(10)])
        await storage.upsert_edges_batch([(f"n{index}", f"n{index + 1}", {"weight": 1.0}) for index in range(9)])
        await storage.index_done_callback()
    assert not storage.log.exists() and storage.pending
    assert await storage.commit() is True
    assert storage.logged == lines(storage.log) == 19

    await storage.upsert_node("n0", {"entity_id": "n0", "description": "changed"})
    assert await storage.index_done_callback() is True
    assert storage.logged == lines(storage.log) == 20
    await storage.remove_nodes([f"n{index}" for index in range(1, 9)])
    await storage.index_done_callback()
    assert storage.logged == lines(storage.log) == 2, "more records than twice the graph's 2 nodes: rewritten"

    reopened = await open_storage(tmp_path, opened)
    graph = await reopened._get_graph()
    assert dict(graph.nodes(data=True)) == {
        "n0": {"entity_id": "n0", "description": "changed"},
        "n9": {"entity_id": "n9"},
    }
    assert list(graph.edges) == [] and reopened.logged == 2


async def test_a_workspace_of_graphml_and_journal_is_moved_into_the_log(
    tmp_path: Path, opened: list[BulkNetworkXStorage]
) -> None:
    folder = tmp_path / "w"
    folder.mkdir()
    graphml = folder / "graph_chunk_entity_relation.graphml"
    nx.write_graphml(
        graph_of({"a": {"description": "A"}, "b": {"description": "B"}}, {("a", "b"): {"weight": 1.0}}), graphml
    )
    append_log(
        Path(f"{graphml}.journal"), change_records(graph_of({"c": {"description": "C"}}, {}), {"b", "c"}, {("a", "b")})
    )

    storage = await open_storage(tmp_path, opened)
    expected = graph_of({"a": {"description": "A"}, "c": {"description": "C"}}, {})
    assert same(await storage._get_graph(), expected)
    assert not graphml.exists() and not Path(f"{graphml}.journal").exists()
    assert same(await (await open_storage(tmp_path, opened))._get_graph(), expected)
