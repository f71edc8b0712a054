"""The graph journal of the NetworkX storage: the state of each changed node and edge, replayed in order."""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from sparkctl.services.lightrag.graph_storage import journal_lines, replay_journal


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


def write(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as journal:
        journal.write("".join(f"{line}\n" for line in lines))


def test_replaying_the_changes_onto_the_old_graph_gives_the_new_one(tmp_path: Path) -> None:
    old = graph_of(
        {"a": {"description": "A", "weight": 1}, "b": {"description": "B"}, "c": {"description": "C"}},
        {("a", "b"): {"keywords": "calls"}, ("b", "c"): {"keywords": "contains"}},
    )
    new = old.copy()
    new.remove_node("c")
    new.add_node("a", description="A again")
    del new.nodes["a"]["weight"]
    new.add_node("d", description='Dé, with ünïcode and <xml> & "quotes"')
    new.add_edge("a", "d", keywords="imports", created_at=1700000000)
    journal = tmp_path / "graph.graphml.journal"
    write(journal, journal_lines(new, {"a", "c", "d"}, {("b", "c"), ("a", "d")}))

    replayed = old.copy()
    assert replay_journal(replayed, journal) == 5
    assert same(replayed, new)


def test_a_node_removed_and_added_again_does_not_keep_its_old_edges(tmp_path: Path) -> None:
    old = graph_of({"a": {}, "b": {}}, {("a", "b"): {"keywords": "calls"}})
    new = graph_of({"a": {"description": "new"}, "b": {}}, {})
    journal = tmp_path / "graph.graphml.journal"
    write(journal, journal_lines(new, {"a"}, {("a", "b")}))

    assert replay_journal(old, journal) == 2
    assert same(old, new)


def test_commits_replay_in_order_and_a_record_cut_short_by_a_crash_is_cut_off(tmp_path: Path) -> None:
    graph = graph_of({"a": {"v": 1}}, {})
    journal = tmp_path / "graph.graphml.journal"
    write(journal, journal_lines(graph_of({"a": {"v": 2}}, {}), {"a"}, set()))
    write(journal, journal_lines(graph_of({"a": {"v": 3}}, {}), {"a"}, set()))
    complete = journal.stat().st_size
    with journal.open("a", encoding="utf-8") as file:
        file.write('["n","a",{"v":')

    assert replay_journal(graph, journal) == 2
    assert graph.nodes["a"] == {"v": 3}
    assert journal.stat().st_size == complete


def test_no_journal_is_no_change(tmp_path: Path) -> None:
    graph = graph_of({"a": {}}, {})
    assert replay_journal(graph, tmp_path / "missing.journal") == 0
    assert list(graph.nodes) == ["a"]
