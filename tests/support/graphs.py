"""A workspace's graph as the local stack's NetworkX storage keeps it on disk (what a restart loads)."""

from __future__ import annotations

from pathlib import Path

import networkx

from sparkctl.services.lightrag.graph_storage import replay_log


def graph_log(lightrag_dir: Path, workspace: str) -> Path:
    return lightrag_dir / workspace / "graph_chunk_entity_relation.jsonl"


def stored_graph(lightrag_dir: Path, workspace: str) -> networkx.Graph:
    """The graph its log holds: empty when there is none yet."""
    graph = networkx.Graph()
    replay_log(graph, graph_log(lightrag_dir, workspace))
    return graph
