"""The LightRAG service, driven over HTTP (ASGI), on a real PostgreSQL 16 with pgvector.

The LLM is a TEST DOUBLE (tests/support/fake_llm.py): a deterministic server speaking Ollama's API
whose extraction answers make one entity per capitalised word. Graphs live in NetworkX files under a
temporary data_dir; embeddings come from the offline hash embedder. One service is shared by the
module (LightRAG instances are slow to start); tests keep apart by using their own workspaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from fastapi import FastAPI
from lightrag.base import StoragesStatus
from lightrag.utils import compute_mdhash_id
from pydantic import ValidationError

from sparkctl.errors import ConfigError
from sparkctl.local.process import free_port
from sparkctl.local.servers import EmbeddedServer
from sparkctl.services.lightrag.app import create_app
from sparkctl.services.lightrag.engine import Models, lightrag_environment
from sparkctl.services.lightrag.registry import WorkspaceRegistry
from sparkctl.services.lightrag.settings import LightragSettings
from sparkctl.services.lightrag.vector_index import ivfflat_lists
from support.fake_llm import FakeLLM, relevance
from support.graphs import graph_log, stored_graph

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CODE_KG: dict[str, Any] = {
    "chunks": [
        {
            "content": "class Client(BaseClient):\n    def send(self, request): ...",
            "source_id": "client-chunk",
            "file_path": "httpx/_client.py",
        },
        {
            "content": "class Request:\n    def __init__(self, method, url): ...",
            "source_id": "models-chunk",
            "file_path": "httpx/_models.py",
        },
    ],
    "entities": [
        {
            "entity_name": "httpx._client.Client",
            "entity_type": "class",
            "description": "The synchronous HTTP client of httpx.",
            "source_id": "client-chunk",
            "file_path": "httpx/_client.py",
        },
        {
            "entity_name": "httpx._models.Request",
            "entity_type": "class",
            "description": "An HTTP request.",
            "source_id": "models-chunk",
            "file_path": "httpx/_models.py",
        },
    ],
    "relationships": [
        {
            "src_id": "httpx._client.Client",
            "tgt_id": "httpx._models.Request",
            "description": "Client.send takes a Request.",
            "keywords": "calls",
            "source_id": "client-chunk",
            "file_path": "httpx/_client.py",
        }
    ],
}


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient

    async def call(self, method: str, path: str, workspace: str | None, **kwargs: Any) -> httpx.Response:
        headers = {"LIGHTRAG-WORKSPACE": workspace} if workspace is not None else {}
        return await self.client.request(method, path, headers=headers, **kwargs)

    @property
    def registry(self) -> WorkspaceRegistry[Any]:
        return self.app.state.registry  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def service_database(postgres_server: EmbeddedServer) -> Iterator[str]:
    """A database of its own on the session's PostgreSQL, for this module."""
    name = f"lightrag_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    yield postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    if postgres_server.process.running:
        with psycopg.connect(postgres_server.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def settings_for(database_url: str, llm_url: str, data_dir: Path, **overrides: Any) -> LightragSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "graph_storage": "networkx",
        "data_dir": data_dir,
        "llm_url": llm_url,
        "embedder": "hash",
        "max_workspaces": 8,
    }
    return LightragSettings(**(values | overrides))


@contextlib.asynccontextmanager
async def running_service(settings: LightragSettings) -> AsyncIterator[Service]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lightrag", timeout=120) as client:
            yield Service(app, client)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(
    service_database: str, fake_llm_server: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    settings = settings_for(service_database, fake_llm_server.url, tmp_path_factory.mktemp("lightrag"))
    async with running_service(settings) as running:
        yield running


async def test_lightrag_reads_its_connections_from_variables_derived_from_the_settings() -> None:
    settings = LightragSettings(
        database_url="postgresql://rag%40user:p%40ss%2Fword@db.local:6543/graph?sslmode=require",
        graph_storage="neo4j",
        neo4j_uri="neo4j://neo4j.graphrag:7687",
        neo4j_password="s3cret",
    )

    env = lightrag_environment(settings)

    assert {key: env[key] for key in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD")} == {
        "POSTGRES_HOST": "db.local",
        "POSTGRES_PORT": "6543",
        "POSTGRES_USER": "rag@user",
        "POSTGRES_PASSWORD": "p@ss/word",
    }
    assert (env["POSTGRES_DATABASE"], env["POSTGRES_SSL_MODE"]) == ("graph", "require")
    assert (env["NEO4J_URI"], env["NEO4J_USERNAME"], env["NEO4J_PASSWORD"]) == (
        "neo4j://neo4j.graphrag:7687",
        "neo4j",
        "s3cret",
    )


async def test_neo4j_needs_a_password_and_has_no_default() -> None:
    with pytest.raises(ValidationError, match="SPARKCTL_NEO4J_PASSWORD is required"):
        LightragSettings(database_url="postgresql://u:p@h/db", graph_storage="neo4j")


def entity_names(result: dict[str, Any]) -> set[str]:
    return {entity["entity_name"] for entity in (result.get("data") or {}).get("entities", [])}


async def query_data(service: Service, workspace: str, name: str) -> dict[str, Any]:
    """Retrieval by an entity name, with the keywords given so no LLM keyword extraction runs."""
    payload = {"query": name, "mode": "local", "ll_keywords": [name], "hl_keywords": [name]}
    response = await service.call("POST", "/query/data", workspace, json=payload)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_health_answers_without_a_workspace(service: Service) -> None:
    response = await service.call("GET", "/health", None)
    assert response.json() == {"status": "ok"}


async def test_code_goes_in_as_a_custom_kg_without_any_llm_call_and_stays_in_its_workspace(
    service: Service, fake_llm: FakeLLM
) -> None:
    response = await service.call("POST", "/documents/custom_kg", "a", json=CODE_KG)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "success", "chunks": 2, "entities": 2, "relationships": 1}

    in_a = await query_data(service, "a", "httpx._client.Client")
    in_b = await query_data(service, "b", "httpx._client.Client")

    assert "httpx._client.Client" in entity_names(in_a)
    client = next(e for e in in_a["data"]["entities"] if e["entity_name"] == "httpx._client.Client")
    assert client["file_path"] == "httpx/_client.py"
    assert entity_names(in_b) == set()
    assert fake_llm.chat_requests() == []


async def test_prose_is_extracted_by_the_llm_into_entities_of_its_workspace(
    service: Service, fake_llm: FakeLLM
) -> None:
    text = "Marie Curie worked with Pierre Curie in Paris on radioactivity."
    response = await service.call(
        "POST", "/documents/text", "prose", json={"text": text, "file_source": "docs/curie.md"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    assert [(d["status"], d["file_path"]) for d in body["documents"]] == [("processed", "docs/curie.md")]
    chats = fake_llm.chat_requests()
    assert chats, "extraction must ask the LLM"
    assert all(r.body["think"] is False and r.body["options"]["num_ctx"] == 32768 for r in chats)
    labels = (await service.call("GET", "/graph/label/list", "prose")).json()
    assert {"Marie", "Curie", "Pierre", "Paris"} <= set(labels)
    assert "Marie" not in (await service.call("GET", "/graph/label/list", "a")).json()


async def test_a_query_is_answered_by_the_llm_with_references_to_the_source_files(
    service: Service, fake_llm: FakeLLM
) -> None:
    question = {"query": "Where did Marie Curie work?", "mode": "local", "ll_keywords": ["Marie", "Curie"]}
    response = await service.call("POST", "/query", "prose", json=question)

    assert response.status_code == 200, response.text
    assert response.json()["response"].startswith("echo:")
    assert response.json()["llm_generated"] is True
    assert {ref["file_path"] for ref in response.json()["references"]} == {"docs/curie.md"}
    assert len(fake_llm.chat_requests()) == 1, "the keywords are given: the only call is for the answer"


async def test_inserting_an_indexed_file_again_changes_nothing(service: Service, fake_llm: FakeLLM) -> None:
    text = "Marie Curie worked with Pierre Curie in Paris on radioactivity."
    response = await service.call(
        "POST", "/documents/text", "prose", json={"text": text, "file_source": "docs/curie.md"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["message"] == "0 document(s) indexed, 1 already indexed"
    assert [d["status"] for d in response.json()["documents"]] == ["processed"]
    assert fake_llm.chat_requests() == []


async def test_texts_without_a_source_are_all_indexed(service: Service) -> None:
    texts = ["Niels Bohr modelled the Atom.", "Lise Meitner explained Fission."]
    response = await service.call("POST", "/documents/texts", "sourceless", json={"texts": texts})

    assert response.status_code == 200, response.text
    assert [(d["status"], d["file_path"]) for d in response.json()["documents"]] == [
        ("processed", "unknown_source"),
        ("processed", "unknown_source"),
    ]


async def test_prose_in_chunks_mode_is_indexed_without_any_llm_call(
    service_database: str, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    settings = settings_for(service_database, fake_llm.url, tmp_path, prose_mode="chunks")
    async with running_service(settings) as chunks_only:
        text = "Marie Curie measured the radioactivity of Polonium in her laboratory."
        response = await chunks_only.call(
            "POST", "/documents/text", "chunky", json={"text": text, "file_source": "notes/polonium.md"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["documents"][0]["chunks_count"] == 1

        found = await chunks_only.call(
            "POST", "/query/data", "chunky", json={"query": "radioactivity of Polonium", "mode": "naive"}
        )

    chunks = found.json()["data"]["chunks"]
    assert [(c["content"], c["file_path"]) for c in chunks] == [(text, "notes/polonium.md")]
    assert fake_llm.chat_requests() == []


RERANK_QUERY = "retry the call with backoff and jitter after a timeout"
RERANK_CHUNKS = {
    "few": "# the call, after it is made",
    "some": "# retry the call after a timeout",
    "everything": "# retry the call with backoff and jitter after a timeout; the pool keeps its sockets open "
    "between requests, reads proxies from the environment, and logs each redirect it follows",
    "most": "# retry the call with backoff after a timeout",
}


def reranked_service(
    database_url: str, fake: FakeLLM, rerank_url: str, data_dir: Path
) -> contextlib.AbstractAsyncContextManager[Service]:
    return running_service(settings_for(database_url, fake.url, data_dir, prose_mode="chunks", rerank_url=rerank_url))


async def store_rerank_chunks(service: Service, workspace: str) -> None:
    chunks = [{"content": text, "source_id": key, "file_path": f"pkg/{key}.py"} for key, text in RERANK_CHUNKS.items()]
    stored = await service.call("POST", "/documents/custom_kg", workspace, json={"chunks": chunks})
    assert stored.status_code == 200, stored.text


def rerank_requests(fake: FakeLLM) -> list[dict[str, Any]]:
    return [request.body for request in fake.requests if request.path == "/v1/rerank"]


async def test_the_reranker_orders_the_chunks_a_query_found(
    service_database: str, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    async with reranked_service(service_database, fake_llm, f"{fake_llm.url}/v1", tmp_path) as reranked:
        await store_rerank_chunks(reranked, "reranked")
        found = await reranked.call("POST", "/query/data", "reranked", json={"query": RERANK_QUERY, "mode": "naive"})
        [asked] = rerank_requests(fake_llm)
        assert (await reranked.call("GET", "/ready", None)).json()["checks"]["reranker"] == "ok"
        kept = await reranked.call(
            "POST", "/query/data", "reranked", json={"query": RERANK_QUERY, "mode": "naive", "enable_rerank": False}
        )

    assert found.status_code == 200, found.text
    contents = [chunk["content"] for chunk in found.json()["data"]["chunks"]]
    assert contents[0] == RERANK_CHUNKS["everything"]
    scores = [relevance(RERANK_QUERY, content) for content in contents]
    assert scores == sorted(scores, reverse=True) and len(contents) >= 2
    assert (asked["model"], asked["query"]) == ("bge-reranker-v2-m3", RERANK_QUERY)
    assert set(asked["documents"]) >= set(contents)
    assert kept.status_code == 200 and len(rerank_requests(fake_llm)) == 1, "enable_rerank=false asks no reranker"
    searched = [chunk["content"] for chunk in kept.json()["data"]["chunks"]]
    assert sorted(searched) == sorted(contents) and searched != contents, "the reranker changed the order"


async def test_with_the_reranker_down_a_query_answers_in_the_vector_searchs_order_and_counts_the_failure(
    service_database: str, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"
    async with reranked_service(service_database, fake_llm, down, tmp_path) as reranked:
        await store_rerank_chunks(reranked, "rerank-down")
        found = await reranked.call("POST", "/query/data", "rerank-down", json={"query": RERANK_QUERY, "mode": "naive"})
        metrics = (await reranked.call("GET", "/metrics", None)).text
        ready = await reranked.call("GET", "/ready", None)
        searched = await reranked.call(
            "POST", "/query/data", "rerank-down", json={"query": RERANK_QUERY, "mode": "naive", "enable_rerank": False}
        )

    assert ready.status_code == 200, "a query needs no reranker"
    assert ready.json()["checks"]["llm"] == "ok" and down.removesuffix("/v1") in ready.json()["checks"]["reranker"]

    assert found.status_code == 200, found.text
    assert found.json()["data"]["chunks"]
    assert found.json()["data"]["chunks"] == searched.json()["data"]["chunks"]
    assert (
        'sparkctl_model_requests_total{backend="bge-reranker-v2-m3",kind="rerank",outcome="unreachable"} 1.0' in metrics
    )


async def test_a_reranker_url_without_a_reranker_model_is_refused_naming_both(tmp_path: Path) -> None:
    catalog = tmp_path / "models.toml"
    shipped = (Path(__file__).parents[2] / "src" / "sparkctl" / "models.toml").read_text()
    catalog.write_text(shipped[: shipped.index('[[model]]\nrole = "reranker"')])
    settings = settings_for("postgresql://u:p@127.0.0.1:9/db", "http://127.0.0.1:9", tmp_path, models=catalog,
                            rerank_url="http://127.0.0.1:9/v1")  # fmt: skip

    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigError, match="SPARKCTL_RERANK_URL is set") as refused:
            Models.load(settings, http)

    assert str(catalog) in refused.value.message and "reranker" in refused.value.hint


async def test_delete_files_removes_what_came_only_from_those_files(service: Service, fake_llm: FakeLLM) -> None:
    def entity(name: str, chunk: str, path: str) -> dict[str, str]:
        return {"entity_name": name, "entity_type": "function", "source_id": chunk, "file_path": path}

    kg = {
        "chunks": [
            {"content": "def run_a(): helper()", "source_id": "a", "file_path": "pkg/a.py"},
            {"content": "def run_b(): helper()", "source_id": "b", "file_path": "pkg/b.py"},
        ],
        "entities": [entity("pkg.a.run_a", "a", "pkg/a.py"), entity("pkg.b.run_b", "b", "pkg/b.py")],
        "relationships": [
            {"src_id": "pkg.a.run_a", "tgt_id": "pkg.b.run_b", "source_id": "a", "file_path": "pkg/a.py"},
            {"src_id": "pkg.b.run_b", "tgt_id": "pkg.helper", "source_id": "b", "file_path": "pkg/b.py"},
        ],
    }
    assert (await service.call("POST", "/documents/custom_kg", "del", json=kg)).status_code == 200

    response = await service.call("POST", "/documents/delete_files", "del", json={"file_paths": ["pkg/a.py"]})

    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "success",
        "file_paths": ["pkg/a.py"],
        "documents": 0,
        "chunks": 1,
        "entities_deleted": 1,
        "entities_updated": 0,
        "relationships_deleted": 1,
        "relationships_updated": 0,
    }
    assert set((await service.call("GET", "/graph/label/list", "del")).json()) == {"pkg.b.run_b", "pkg.helper"}
    chunks = await service.call("POST", "/query/data", "del", json={"query": "def run_a run_b", "mode": "naive"})
    assert {c["file_path"] for c in chunks.json()["data"]["chunks"]} == {"pkg/b.py"}
    assert fake_llm.chat_requests() == []


async def test_delete_files_keeps_an_entity_other_files_still_cite(service: Service) -> None:
    kg = {
        "chunks": [
            {"content": "import shared  # in x", "source_id": "x", "file_path": "x.py"},
            {"content": "import shared  # in y", "source_id": "y", "file_path": "y.py"},
        ],
        "entities": [{"entity_name": "shared", "entity_type": "module", "source_id": "x", "file_path": "x.py"}],
    }
    assert (await service.call("POST", "/documents/custom_kg", "keep", json=kg)).status_code == 200
    async with service.registry.lease("keep") as workspace:  # as if a second file had cited it too
        graph = workspace.rag.chunk_entity_relation_graph
        node = await graph.get_node("shared")
        y_chunk = compute_mdhash_id("import shared  # in y", prefix="chunk-")
        cited_twice = {"source_id": f"{node['source_id']}<SEP>{y_chunk}", "file_path": "x.py<SEP>y.py"}
        await graph.upsert_node("shared", node | cited_twice)
        await graph.index_done_callback()

    response = await service.call("POST", "/documents/delete_files", "keep", json={"file_paths": ["x.py"]})

    assert response.json()["entities_updated"] == 1
    graph_view = (await service.call("GET", "/graphs", "keep", params={"label": "shared"})).json()
    assert [(n["id"], n["properties"]["file_path"]) for n in graph_view["nodes"]] == [("shared", "y.py")]


async def test_documents_are_listed_and_deleted_by_id_or_by_file(service: Service) -> None:
    texts = ["Ada Lovelace wrote the first Program.", "Alan Turing described the Machine."]
    inserted = await service.call(
        "POST", "/documents/texts", "docs", json={"texts": texts, "file_sources": ["bio/ada.md", "bio/alan.md"]}
    )
    assert inserted.status_code == 200, inserted.text
    listed = (await service.call("GET", "/documents", "docs")).json()
    assert {d["file_path"] for d in listed["statuses"]["processed"]} == {"bio/ada.md", "bio/alan.md"}
    ada_id = next(d["id"] for d in listed["statuses"]["processed"] if d["file_path"] == "bio/ada.md")

    by_file = await service.call("POST", "/documents/delete_files", "docs", json={"file_paths": ["bio/alan.md"]})
    by_id = await service.call("DELETE", "/documents/delete_document", "docs", json={"doc_ids": [ada_id]})

    assert by_file.json()["documents"] == 1
    assert [r["status"] for r in by_id.json()["results"]] == ["success"]
    assert (await service.call("GET", "/documents", "docs")).json() == {"statuses": {}}
    assert (await service.call("GET", "/graph/label/list", "docs")).json() == []


async def test_pipeline_status_reports_the_workspace_idle(service: Service) -> None:
    status = (await service.call("GET", "/documents/pipeline_status", "docs")).json()
    assert status["busy"] is False


@pytest.mark.parametrize("name", ["bad name", "../etc", "x" * 65])
async def test_an_invalid_workspace_is_a_400_naming_the_problem(service: Service, name: str) -> None:
    response = await service.call("POST", "/query/data", name, json={"query": "anything at all"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_workspace"
    assert "invalid workspace name" in response.json()["error"]["message"]


async def test_a_malformed_payload_is_a_422_saying_what_is_wrong(service: Service) -> None:
    response = await service.call("POST", "/documents/custom_kg", "a", json={"chunks": [{"content": "x"}]})
    assert response.status_code == 422
    assert "chunks.0.source_id" in response.json()["error"]["message"]


async def test_a_payload_lightrag_refuses_is_a_400(service: Service) -> None:
    self_loop = {"relationships": [{"src_id": "same", "tgt_id": "same"}]}
    response = await service.call("POST", "/documents/custom_kg", "a", json=self_loop)
    assert response.status_code == 400
    assert "self-loop" in response.json()["error"]["message"]


async def test_the_least_recently_used_workspace_is_finalized_and_reopens_with_its_data(
    service_database: str, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    settings = settings_for(service_database, fake_llm.url, tmp_path, max_workspaces=1)
    async with running_service(settings) as small:
        assert (await small.call("POST", "/documents/custom_kg", "evict-a", json=CODE_KG)).status_code == 200
        async with small.registry.lease("evict-a") as first:
            first_rag = first.rag

        assert (await small.call("GET", "/graph/label/list", "evict-b")).status_code == 200
        assert small.registry.open_workspaces == ["evict-b"]
        assert first_rag._storages_status is StoragesStatus.FINALIZED

        reopened = await query_data(small, "evict-a", "httpx._client.Client")
        assert "httpx._client.Client" in entity_names(reopened)
        async with small.registry.lease("evict-a") as second:
            assert second.rag is not first_rag


class _Scripted:
    """A stand-in for a workspace's LightRAG instance: it only knows whether it was closed."""

    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def test_concurrent_first_requests_for_a_workspace_open_it_once() -> None:
    opened: list[str] = []

    async def opener(name: str) -> _Scripted:
        opened.append(name)
        await asyncio.sleep(0.05)
        return _Scripted()

    registry: WorkspaceRegistry[_Scripted] = WorkspaceRegistry(opener, capacity=2)

    async def use() -> _Scripted:
        async with registry.lease("same") as value:
            await asyncio.sleep(0.01)
            return value

    values = await asyncio.gather(*(use() for _ in range(10)))

    assert opened == ["same"]
    assert len({id(value) for value in values}) == 1


async def test_a_workspace_evicted_while_in_use_is_closed_when_its_last_request_ends() -> None:
    async def opener(name: str) -> _Scripted:
        return _Scripted()

    registry: WorkspaceRegistry[_Scripted] = WorkspaceRegistry(opener, capacity=1)

    async with registry.lease("busy") as busy, registry.lease("other") as other:
        assert registry.open_workspaces == ["other"]
        assert busy.closed is False
    assert busy.closed is True

    await registry.close()
    assert other.closed is True


async def test_ready_names_postgresql_while_it_is_down_and_recovers_without_a_restart(
    service: Service, postgres_server: EmbeddedServer, running: None
) -> None:
    assert (await service.call("GET", "/ready", None)).status_code == 200
    port = postgres_server.url.rsplit(":", 1)[1].split("/")[0]

    postgres_server.process.stop()
    down = await service.call("GET", "/ready", None)
    request_while_down = await service.call("GET", "/documents", "a")
    postgres_server.process.start()
    back = await service.call("GET", "/ready", None)
    request_after = await service.call("GET", "/documents", "a")

    assert down.status_code == 503
    assert f"PostgreSQL at 127.0.0.1:{port} is unreachable" in down.json()["error"]["message"]
    assert down.json()["checks"]["llm"] == "ok"
    assert request_while_down.status_code == 503
    assert request_while_down.json()["error"]["code"] == "postgres_unavailable"
    assert back.status_code == 200
    assert request_after.status_code == 200


async def test_a_failing_llm_is_a_503_naming_its_url_and_the_insert_succeeds_once_it_is_back(
    service: Service, fake_llm: FakeLLM
) -> None:
    text = {"text": "Grace Hopper found a Moth in the Relay.", "file_source": "bio/grace.md"}
    fake_llm.fail_with = 503

    insert = await service.call("POST", "/documents/text", "llm-down", json=text)
    query = await service.call("POST", "/query", "llm-down", json={"query": "Who found the moth?"})
    ready = await service.call("GET", "/ready", None)
    fake_llm.fail_with = None
    retried = await service.call("POST", "/documents/text", "llm-down", json=text)

    for response in (insert, query):
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "llm_unavailable"
        assert fake_llm.url in response.json()["error"]["message"]
    assert ready.status_code == 200, "the model server answers its listing; only its answers fail"
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "success", retried.json()
    assert "Grace" in (await service.call("GET", "/graph/label/list", "llm-down")).json()


async def test_an_unreachable_llm_makes_ready_a_503_naming_it(
    service_database: str, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with running_service(settings_for(service_database, dead, tmp_path)) as offline:
        response = await offline.call("GET", "/ready", None)

    assert response.status_code == 503
    assert f"LLM backend {dead} is unreachable" in response.json()["error"]["message"]
    assert response.json()["checks"]["postgres"] == "ok"


async def test_a_workspace_indexed_with_another_embedder_is_refused_until_it_is_cleared(
    service_database: str, fake_llm_server: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """LightRAG keeps each embedder's vectors in tables of their own: searched with another embedder, a
    workspace would find nothing and say nothing. Here the hash embedder changes size."""
    folder = tmp_path_factory.mktemp("embedders")
    before = settings_for(service_database, fake_llm_server.url, folder / "before")
    after = settings_for(service_database, fake_llm_server.url, folder / "after", hash_dimensions=512)

    async with running_service(before) as service:
        assert (await service.call("POST", "/documents/custom_kg", "re-embedded", json=CODE_KG)).status_code == 200

    async with running_service(after) as service:
        checked = await service.call("GET", "/documents/embedder", "re-embedded")
        assert checked.status_code == 409
        error = checked.json()["error"]
        assert error["code"] == "embedder_changed"
        assert "hash (256 dimensions)" in error["message"] and "hash (512 dimensions)" in error["message"]
        assert "--reindex" in error["hint"]
        payload = {"query": "Client", "mode": "local", "ll_keywords": ["Client"], "hl_keywords": ["Client"]}
        assert (await service.call("POST", "/query/data", "re-embedded", json=payload)).status_code == 409
        assert (await service.call("POST", "/documents/custom_kg", "re-embedded", json=CODE_KG)).status_code == 409

        cleared = await service.call("DELETE", "/documents", "re-embedded")
        assert cleared.status_code == 200, cleared.text
        assert entity_names(await query_data(service, "re-embedded", "httpx._client.Client")) == set()
        assert (await service.call("POST", "/documents/custom_kg", "re-embedded", json=CODE_KG)).status_code == 200
        checked = await service.call("GET", "/documents/embedder", "re-embedded")
        assert checked.json() == {"workspace": "re-embedded", "embedder": "hash", "dimensions": 512}
        assert "httpx._client.Client" in entity_names(await query_data(service, "re-embedded", "httpx._client.Client"))


async def graph_of(service: Service, workspace: str, label: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The node ids and edges of the graph around `label`, read from the graph storage (not the vectors)."""
    response = await service.call("GET", "/graphs", workspace, params={"label": label, "max_depth": 2})
    assert response.status_code == 200, response.text
    graph = response.json()
    return {node["id"] for node in graph["nodes"]}, {(edge["source"], edge["target"]) for edge in graph["edges"]}


async def test_deferred_inserts_are_written_once_on_commit_and_the_graph_survives_a_restart(
    service_database: str, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    settings = settings_for(service_database, fake_llm.url, tmp_path)
    second_file = {
        "chunks": [{"content": "def build(): ...", "source_id": "build-chunk", "file_path": "httpx/_build.py"}],
        "entities": [
            {
                "entity_name": "httpx._build.build",
                "entity_type": "function",
                "description": "Builds a Request.",
                "source_id": "build-chunk",
                "file_path": "httpx/_build.py",
            }
        ],
        "relationships": [
            {
                "src_id": "httpx._build.build",
                "tgt_id": "httpx._models.Request",
                "description": "build calls Request.",
                "keywords": "calls",
                "source_id": "build-chunk",
                "file_path": "httpx/_build.py",
            }
        ],
    }
    async with running_service(settings) as first:
        for batch in (CODE_KG, second_file):
            response = await first.call(
                "POST", "/documents/custom_kg", "deferred", json=batch | {"defer_graph_write": True}
            )
            assert response.status_code == 200, response.text
        written_before_commit = "httpx._build.build" in stored_graph(tmp_path, "deferred")
        nodes, _ = await graph_of(first, "deferred", "httpx._models.Request")
        assert "httpx._build.build" in nodes

        committed = await first.call("POST", "/documents/commit_graph", "deferred")
        again = await first.call("POST", "/documents/commit_graph", "deferred")

    assert not written_before_commit
    assert committed.json() == {"status": "success", "written": True, "indexes_built": []}
    assert again.json() == {"status": "success", "written": False, "indexes_built": []}
    async with running_service(settings) as restarted:
        nodes, edges = await graph_of(restarted, "deferred", "httpx._models.Request")
    assert {"httpx._client.Client", "httpx._models.Request", "httpx._build.build"} <= nodes
    assert {frozenset(edge) for edge in edges} >= {
        frozenset(("httpx._client.Client", "httpx._models.Request")),
        frozenset(("httpx._build.build", "httpx._models.Request")),
    }


async def test_a_deferred_insert_nobody_commits_is_written_when_the_service_stops(
    service_database: str, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    settings = settings_for(service_database, fake_llm.url, tmp_path)
    async with running_service(settings) as first:
        response = await first.call(
            "POST", "/documents/custom_kg", "stopped", json=CODE_KG | {"defer_graph_write": True}
        )
        assert response.status_code == 200, response.text

    async with running_service(settings) as restarted:
        nodes, edges = await graph_of(restarted, "stopped", "httpx._client.Client")
    assert nodes == {"httpx._client.Client", "httpx._models.Request"}
    assert {frozenset(edge) for edge in edges} == {frozenset(("httpx._client.Client", "httpx._models.Request"))}


async def test_a_deferred_insert_is_written_by_the_timer_when_nobody_commits(
    service_database: str, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    settings = settings_for(service_database, fake_llm.url, tmp_path, graph_commit_delay=0.2)
    async with running_service(settings) as service:
        response = await service.call(
            "POST", "/documents/custom_kg", "timer", json=CODE_KG | {"defer_graph_write": True}
        )
        assert response.status_code == 200, response.text
        for _ in range(100):
            if "httpx._client.Client" in stored_graph(tmp_path, "timer"):
                break
            await asyncio.sleep(0.1)
        committed = await service.call("POST", "/documents/commit_graph", "timer")
    assert "httpx._client.Client" in stored_graph(tmp_path, "timer")
    assert committed.json() == {"status": "success", "written": False, "indexes_built": []}


async def test_a_deferred_deletion_is_written_on_commit(
    service_database: str, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    settings = settings_for(service_database, fake_llm.url, tmp_path)
    async with running_service(settings) as first:
        assert (await first.call("POST", "/documents/custom_kg", "undo", json=CODE_KG)).status_code == 200
        deleted = await first.call(
            "POST",
            "/documents/delete_files",
            "undo",
            json={"file_paths": ["httpx/_client.py"], "defer_graph_write": True},
        )
        assert deleted.status_code == 200, deleted.text
        assert "httpx._client.Client" in stored_graph(tmp_path, "undo")
        assert (await first.call("POST", "/documents/commit_graph", "undo")).json()["written"] is True

    async with running_service(settings) as restarted:
        nodes, _ = await graph_of(restarted, "undo", "httpx._models.Request")
    assert nodes == {"httpx._models.Request"}
    assert "httpx._client.Client" not in stored_graph(tmp_path, "undo")


def module_kg(module: str, path: str, functions: int, *, first: int = 0) -> dict[str, Any]:
    """A module's code graph: a chunk per function, the module containing each function (a graph-only edge)."""
    names = [f"{module}.f{i}" for i in range(first, first + functions)]
    return {
        "chunks": [
            {"content": f"def {name.rsplit('.', 1)[1]}(): return 1  # {module}", "source_id": name, "file_path": path}
            for name in names
        ],
        "entities": [
            {"entity_name": name, "entity_type": "function", "description": f"function {name}", "source_id": name}
            | {"file_path": path}
            for name in names
        ],
        "relationships": [
            {"src_id": module, "tgt_id": name, "keywords": "contains", "description": f"{module} contains {name}"}
            | {"source_id": name, "file_path": path, "indexed": False}
            for name in names
        ],
    }


async def test_a_definition_named_in_the_keywords_comes_first_with_its_chunk(service: Service) -> None:
    noise = module_kg("noise.client", "noise/client.py", 30)
    for workspace, kg in (("named", CODE_KG), ("named", noise), ("elsewhere", module_kg("other", "other.py", 11))):
        assert (await service.call("POST", "/documents/custom_kg", workspace, json=kg)).status_code == 200

    async def ask(*keywords: str) -> dict[str, Any]:
        payload = {"query": "What is it?", "mode": "mix", "ll_keywords": list(keywords), "top_k": 1, "chunk_top_k": 1}
        response = await service.call("POST", "/query/data", "named", json=payload)
        assert response.status_code == 200, response.text
        return response.json()["data"]  # type: ignore[no-any-return]

    for name in ("Client", "_client.Client", "httpx._client.Client"):
        data = await ask("parse this", name)
        assert data["entities"][0]["entity_name"] == "httpx._client.Client", name
        assert data["entities"][0]["file_path"] == "httpx/_client.py"
        assert data["chunks"][0]["content"] == CODE_KG["chunks"][0]["content"]
    assert "httpx._client.Client" not in {entity["entity_name"] for entity in (await ask("lient")).get("entities", [])}
    assert [entity["entity_name"] for entity in (await ask("f10")).get("entities", [])][:1] == ["noise.client.f10"]
    assert "other.f10" not in {entity["entity_name"] for entity in (await ask("f10")).get("entities", [])}


async def vector_tables(service: Service, workspace: str) -> dict[str, str]:
    async with service.registry.lease(workspace) as opened:
        rag = opened.rag
        return {
            "entities": rag.entities_vdb.table_name,
            "relationships": rag.relationships_vdb.table_name,
            "chunks": rag.chunks_vdb.table_name,
        }


def indexed_tables(database_url: str, tables: dict[str, str]) -> set[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_indexes WHERE indexname LIKE %s", ("%ivfflat_cosine",)).fetchall()
    found = {row[0] for row in rows}
    return {kind for kind, table in tables.items() if table.lower() in found}


async def test_structural_edges_go_into_the_graph_with_their_chunk_but_without_a_vector(
    service: Service, service_database: str
) -> None:
    kg = CODE_KG | {
        "relationships": [
            *CODE_KG["relationships"],
            {
                "src_id": "httpx._client.Client",
                "tgt_id": "httpx._client.Client.send",
                "keywords": "contains",
                "description": "Client contains send",
                "source_id": "client-chunk",
                "file_path": "httpx/_client.py",
                "indexed": False,
            },
        ]
    }
    assert (await service.call("POST", "/documents/custom_kg", "edges", json=kg)).status_code == 200

    response = await service.call("GET", "/graphs", "edges", params={"label": "httpx._client.Client"})
    graph = response.json()
    edges = {frozenset((edge["source"], edge["target"])): edge["properties"] for edge in graph["edges"]}
    contains = edges[frozenset(("httpx._client.Client", "httpx._client.Client.send"))]
    client_chunk = CODE_KG["chunks"][0]["content"]
    assert contains["keywords"] == "contains"
    assert contains["source_id"] == compute_mdhash_id(client_chunk, prefix="chunk-")
    assert contains["file_path"] == "httpx/_client.py"
    placeholder = next(node for node in graph["nodes"] if node["id"] == "httpx._client.Client.send")
    assert placeholder["properties"]["entity_type"] == "UNKNOWN"
    table = (await vector_tables(service, "edges"))["relationships"]
    with psycopg.connect(service_database) as conn:
        vectors = conn.execute(f"SELECT source_id, target_id FROM {table} WHERE workspace = 'edges'").fetchall()
    assert sorted(vectors[0]) == ["httpx._client.Client", "httpx._models.Request"] and len(vectors) == 1


async def test_a_bulk_write_builds_the_vector_indexes_at_its_end_and_a_small_write_keeps_them(
    service: Service, service_database: str
) -> None:
    tables = await vector_tables(service, "bulk")
    commit = {"build_indexes": True}
    built = await service.call("POST", "/documents/commit_graph", "bulk", json=commit)
    assert built.status_code == 200, built.text
    assert indexed_tables(service_database, tables) == {"entities", "relationships", "chunks"}

    small = await service.call("POST", "/documents/custom_kg", "bulk", json=CODE_KG | {"defer_graph_write": True})
    assert small.status_code == 200, small.text
    assert indexed_tables(service_database, tables) == {"entities", "relationships", "chunks"}

    large = module_kg("bulk.big", "bulk/big.py", 2100) | {"defer_graph_write": True}
    assert (await service.call("POST", "/documents/custom_kg", "bulk", json=large)).status_code == 200
    assert indexed_tables(service_database, tables) == {"relationships"}
    assert "bulk.big.f2099" in entity_names(await query_data(service, "bulk", "bulk.big.f2099"))

    rebuilt = await service.call("POST", "/documents/commit_graph", "bulk", json=commit)
    assert rebuilt.json() == {
        "status": "success",
        "written": True,
        "indexes_built": [tables["entities"], tables["chunks"]],
    }
    assert indexed_tables(service_database, tables) == {"entities", "relationships", "chunks"}
    with psycopg.connect(service_database) as conn:
        vector = conn.execute(f"SELECT content_vector FROM {tables['entities']} LIMIT 1").fetchone()[0]  # type: ignore[index]
        plan = conn.execute(
            f"EXPLAIN SELECT entity_name FROM {tables['entities']} WHERE workspace = 'bulk' "
            "AND content_vector <=> %s::vector < 0.8 ORDER BY content_vector <=> %s::vector LIMIT 8",
            (vector, vector),
        ).fetchall()
        rows = conn.execute(f"SELECT count(*) FROM {tables['entities']}").fetchone()[0]  # type: ignore[index]
        definition = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (tables["entities"].lower(),)
        ).fetchall()
    assert "ivfflat_cosine" in " ".join(row[0] for row in plan)
    assert f"lists='{ivfflat_lists(rows)}'" in " ".join(row[0] for row in definition) and rows >= 2100


async def test_an_ivfflat_index_its_table_has_outgrown_is_rebuilt_at_the_end_of_a_bulk_write(
    service: Service, service_database: str
) -> None:
    tables = await vector_tables(service, "regrow")
    large = module_kg("regrow.big", "regrow/big.py", 4100) | {"defer_graph_write": True}
    assert (await service.call("POST", "/documents/custom_kg", "regrow", json=large)).status_code == 200
    commit = {"build_indexes": True}
    assert (await service.call("POST", "/documents/commit_graph", "regrow", json=commit)).status_code == 200
    index = f"idx_{tables['entities'].lower()}_ivfflat_cosine"
    with psycopg.connect(service_database, autocommit=True) as conn:
        conn.execute(f"DROP INDEX {index}")
        conn.execute(
            f"CREATE INDEX {index} ON {tables['entities']} USING ivfflat (content_vector vector_cosine_ops)"
            " WITH (lists = 1)"
        )
        rows = conn.execute(f"SELECT count(*) FROM {tables['entities']}").fetchone()[0]  # type: ignore[index]

    rebuilt = await service.call("POST", "/documents/commit_graph", "regrow", json=commit)
    again = await service.call("POST", "/documents/commit_graph", "regrow", json=commit)

    assert rebuilt.json()["indexes_built"] == [tables["entities"]]
    assert again.json()["indexes_built"] == []
    with psycopg.connect(service_database) as conn:
        options = conn.execute("SELECT reloptions FROM pg_class WHERE relname = %s", (index,)).fetchone()[0]  # type: ignore[index]
    assert options == [f"lists={ivfflat_lists(rows)}"] and rows >= 4100


async def test_a_small_change_is_appended_to_the_log_and_replayed_when_the_workspace_opens(
    service_database: str, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    settings = settings_for(service_database, fake_llm.url, tmp_path / "live")
    copy = tmp_path / "copy"
    old = module_kg("jr.old", "jr/old.py", 1)
    extra = module_kg("jr.extra", "jr/extra.py", 1)
    log = graph_log(tmp_path / "live", "journal")
    async with running_service(settings) as live:
        first = module_kg("jr.mod", "jr/mod.py", 40)
        whole = {key: first[key] + old[key] for key in first}
        assert (await live.call("POST", "/documents/custom_kg", "journal", json=whole)).status_code == 200
        written = log.read_bytes()
        graph = stored_graph(tmp_path / "live", "journal")
        assert len(written.splitlines()) == graph.number_of_nodes() + graph.number_of_edges()
        deleted = await live.call(
            "POST", "/documents/delete_files", "journal", json={"file_paths": ["jr/old.py"], "defer_graph_write": True}
        )
        assert deleted.status_code == 200, deleted.text
        inserted = await live.call("POST", "/documents/custom_kg", "journal", json=extra | {"defer_graph_write": True})
        assert inserted.status_code == 200, inserted.text
        assert log.read_bytes() == written
        assert (await live.call("POST", "/documents/commit_graph", "journal")).json()["written"] is True

        appended = log.read_bytes().removeprefix(written).decode()
        assert '["n","jr.old.f0"]' in appended and '["n","jr.extra.f0",' in appended
        assert "jr.mod.f39" not in appended
        shutil.copytree(tmp_path / "live", copy)

    async with running_service(settings_for(service_database, fake_llm.url, copy)) as crashed:
        around = {name: (await graph_of(crashed, "journal", name))[0] for name in ("jr.mod", "jr.extra", "jr.old.f0")}
    assert "jr.mod.f39" in around["jr.mod"] and "jr.extra.f0" in around["jr.extra"] and not around["jr.old.f0"]
