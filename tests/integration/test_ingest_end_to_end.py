"""A real codebase nobody here wrote (the installed httpx package) through the whole stack:
upload → orchestrator → NATS → worker → preprocessor → LightRAG, then found by name in its workspace
and only there. Real PostgreSQL and NATS; the LLM is the test double, and code needs no LLM call."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path

import httpx
import psycopg
import pytest

from sparkctl.client import Endpoint, OrchestratorClient
from sparkctl.local.servers import EmbeddedServer
from sparkctl.services.common.jobs import PIECE_BYTES
from sparkctl.services.common.remote import PreprocessorClient
from sparkctl.services.worker.pipeline import SPOOL_BYTES
from support.codebases import add_file, httpx_source_tarball, ingest
from support.fake_llm import FakeLLM
from support.graphs import stored_graph
from support.stack import Stack, WorkerThread, services

pytestmark = pytest.mark.integration


def entities_named(stack: Stack, workspace: str, name: str) -> set[str]:
    payload = {"query": name, "mode": "local", "ll_keywords": [name], "hl_keywords": [name]}
    response = httpx.post(
        f"{stack.lightrag}/query/data", json=payload, headers={"LIGHTRAG-WORKSPACE": workspace}, timeout=60
    )
    assert response.status_code == 200, response.text
    return {e["entity_name"] for e in (response.json().get("data") or {}).get("entities", [])}


def stored_pieces(conn: psycopg.Connection, job_id: str) -> tuple[int, ...] | None:
    """How many pieces the job's upload is stored in."""
    return conn.execute(
        "SELECT count(*) FROM document_chunks c JOIN ingest_jobs j ON j.document_id = c.document_id WHERE j.id = %s",
        (job_id,),
    ).fetchone()


def test_a_real_codebase_becomes_entities_of_its_workspace_only(graphrag_stack: Stack, fake_llm: FakeLLM) -> None:
    job = ingest(graphrag_stack, httpx_source_tarball(extra={"httpx/logo.png": b"\x89PNG\r\n\x1a\n\0\0"}), "alpha")

    assert job["status"] == "completed", job["error"]
    assert job["files_total"] >= 20
    assert job["files_done"] + job["files_skipped"] == job["files_total"]
    assert job["skipped"] == {"binary": 1}
    assert job["entities"] > 200 and job["relations"] > 200 and job["chunks"] > 50
    assert "httpx._client.Client" in entities_named(graphrag_stack, "alpha", "httpx._client.Client")
    assert "httpx._client.Client" not in entities_named(graphrag_stack, "beta", "httpx._client.Client")
    assert fake_llm.chat_requests() == []


def test_re_ingesting_is_incremental_and_forgets_vanished_files(graphrag_stack: Stack) -> None:
    first = ingest(graphrag_stack, httpx_source_tarball(), "gamma")
    assert first["status"] == "completed", first["error"]

    again = ingest(graphrag_stack, httpx_source_tarball(), "gamma")
    assert again["status"] == "completed", again["error"]
    assert (again["files_unchanged"], again["files_done"], again["files_skipped"]) == (again["files_total"], 0, 0)

    changed = ingest(
        graphrag_stack,
        httpx_source_tarball(extra={"httpx/_extra.py": b"class FreshlyAdded:\n    pass\n"}, drop=("httpx/_auth.py",)),
        "gamma",
    )
    assert changed["status"] == "completed", changed["error"]
    assert (changed["files_done"], changed["files_deleted"]) == (1, 1)
    assert "httpx._extra.FreshlyAdded" in entities_named(graphrag_stack, "gamma", "httpx._extra.FreshlyAdded")
    assert "httpx._auth.DigestAuth" not in entities_named(graphrag_stack, "gamma", "httpx._auth.DigestAuth")


def test_a_changed_file_is_parsed_alone_and_still_links_to_the_unchanged_ones(
    graphrag_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker keeps the entity names of each file (worker/symbols.py): a re-ingest parses the new file only, and
    its call into an unchanged file still becomes a relationship of the graph."""
    assert ingest(graphrag_stack, httpx_source_tarball(), "delta")["status"] == "completed"
    parsed: list[str] = []
    parse = PreprocessorClient.parse_batch

    async def recording(client: PreprocessorClient, files: Sequence[tuple[str, bytes]]) -> bytes:
        parsed.extend(path for path, _ in files)
        return await parse(client, files)

    monkeypatch.setattr(PreprocessorClient, "parse_batch", recording)
    fresh = b"from httpx._client import Client\n\n\ndef fresh_client():\n    return Client()\n"
    changed = ingest(graphrag_stack, httpx_source_tarball(extra={"httpx/_fresh.py": fresh}), "delta")

    assert changed["status"] == "completed", changed["error"]
    assert (parsed, changed["files_done"]) == (["httpx/_fresh.py"], 1)
    response = httpx.get(
        f"{graphrag_stack.lightrag}/graphs",
        params={"label": "httpx._fresh.fresh_client", "max_depth": 1},
        headers={"LIGHTRAG-WORKSPACE": "delta"},
        timeout=60,
    )
    edges = {frozenset((e["source"], e["target"])): e["properties"]["keywords"] for e in response.json()["edges"]}
    assert edges[frozenset(("httpx._fresh.fresh_client", "httpx._client.Client"))] == "calls"
    assert edges[frozenset(("httpx._fresh", "httpx._fresh.fresh_client"))] == "contains"


def test_a_hostile_archive_fails_the_job_with_the_reason(graphrag_stack: Stack) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        add_file(archive, "../../etc/evil.py", b"x = 1\n")
    job = ingest(graphrag_stack, buffer.getvalue(), "alpha")
    assert job["status"] == "failed"
    assert ".." in job["error"]


def test_a_several_mb_upload_reaches_the_worker_byte_exact_from_its_stored_pieces(graphrag_stack: Stack) -> None:
    data = os.urandom(5 * 1024 * 1024 + 321)
    with OrchestratorClient(Endpoint(graphrag_stack.orchestrator, "test"), graphrag_stack.api_key) as client:
        (job,) = client.upload_documents([("big.txt", data, "text/plain")], workspace="pieces")
        list(client.follow_job(job["id"]))
        final = client.job(job["id"])

    assert final["status"] == "completed", final["error"]
    assert final["skipped"] == {"too-large": 1}
    with psycopg.connect(graphrag_stack.database_url) as conn:
        pieces = stored_pieces(conn, job["id"])
        read_by_worker = conn.execute(
            "SELECT sha256 FROM workspace_files WHERE workspace = 'pieces' AND source = 'big.txt' AND path = 'big.txt'"
        ).fetchone()
    assert pieces == (6,)
    assert read_by_worker == (hashlib.sha256(data).hexdigest(),)


def test_an_archive_larger_than_the_worker_keeps_in_memory_is_extracted_from_its_spooled_file(
    graphrag_stack: Stack,
) -> None:
    blobs = {f"assets/blob{n}.bin": os.urandom(1536 * 1024) for n in range(6)}
    archive = httpx_source_tarball(extra=blobs)
    assert len(archive) > SPOOL_BYTES

    job = ingest(graphrag_stack, archive, "spooled")

    assert job["status"] == "completed", job["error"]
    assert job["skipped"] == {"too-large": 6}
    assert job["files_done"] == job["files_total"] - 6 >= 20
    client_source = (Path(httpx.__file__).parent / "_client.py").read_bytes()
    with psycopg.connect(graphrag_stack.database_url) as conn:
        pieces = stored_pieces(conn, job["id"])
        indexed = conn.execute(
            "SELECT sha256 FROM workspace_files WHERE workspace = 'spooled' AND path = 'httpx/_client.py'"
        ).fetchone()
    assert pieces == (-(-len(archive) // PIECE_BYTES),)
    assert indexed == (hashlib.sha256(client_source).hexdigest(),)


def written_graph(data_dir: Path, workspace: str) -> tuple[set[str], set[frozenset[str]]]:
    """The nodes and edges of a workspace's graph as LightRAG's NetworkX storage wrote them (what a restart loads)."""
    graph = stored_graph(data_dir / "lightrag", workspace)
    return set(graph.nodes), {frozenset(edge) for edge in graph.edges}


def test_a_job_stored_in_many_inserts_writes_the_same_graph_as_one_insert_and_records_every_file(
    database_url: str, nats_url: str, redis_server: EmbeddedServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    """LightRAG writes its graph when the worker commits, not per insert: a job cut into inserts of 5 files, the
    graph committed after each, leaves on disk the graph a job of one insert leaves, and its files recorded."""
    archive = httpx_source_tarball()
    with services(database_url, nats_url, redis_server.url, fake_llm.url, tmp_path, worker=False) as stack:
        with WorkerThread(stack.worker_settings(insert_files=5, graph_commit_seconds=0.001)):
            batched = ingest(stack, archive, "batched")
        with WorkerThread(stack.worker_settings()):
            whole = ingest(stack, archive, "whole")
            again = ingest(stack, archive, "batched")

    assert batched["status"] == whole["status"] == "completed", (batched["error"], whole["error"])
    nodes, edges = written_graph(tmp_path, "batched")
    assert "httpx._client.Client" in nodes and len(edges) > 200
    assert (nodes, edges) == written_graph(tmp_path, "whole")
    assert (again["files_unchanged"], again["files_done"]) == (again["files_total"], 0)
    with psycopg.connect(database_url) as conn:
        recorded = conn.execute(
            "SELECT workspace, count(*) FROM workspace_files WHERE workspace IN ('batched', 'whole') GROUP BY 1"
        ).fetchall()
    assert dict(recorded) == {"batched": batched["files_total"], "whole": whole["files_total"]}
