"""Settings of the LightRAG service (SPARKCTL_* environment variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from sparkctl.services.common.embedding import DEFAULT_DIMENSIONS
from sparkctl.services.common.settings import LlmSettings, ServiceSettings, Url


class LightragSettings(ServiceSettings, LlmSettings):
    """Where LightRAG keeps each workspace: PostgreSQL for documents, chunks and vectors; a graph store."""

    model_config = SettingsConfigDict(env_prefix="SPARKCTL_", extra="ignore", frozen=True)

    port: int = 9621
    database_url: str = Field(description="postgresql://user:password@host:port/database")
    graph_storage: Literal["networkx", "neo4j"] = Field(
        default="neo4j", description="neo4j in the cluster; networkx (GraphML files under data_dir) locally"
    )
    neo4j_uri: str = "neo4j://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr | None = None
    neo4j_database: str = Field(default="neo4j", description="the one database every workspace shares, by label")
    data_dir: Path = Field(default=Path("lightrag-data"), description="LightRAG's working dir (NetworkX graphs)")
    max_workspaces: int = Field(default=16, ge=1, description="LightRAG instances kept open at once (LRU)")
    prose_mode: Literal["extract", "chunks"] = Field(
        default="extract",
        description="extract: the LLM extracts entities from prose; chunks: prose is indexed as chunks only",
    )
    vector_index: Literal["ivfflat", "hnsw", "exact"] = Field(
        default="ivfflat",
        description="ivfflat or hnsw: approximate search through a pgvector index of that method, built at the end "
        "of a bulk write (an ingest job) and kept up to date by smaller ones (ivfflat builds in seconds; hnsw takes "
        "longer and finds more for the same search time); exact: no index, a full scan per query (exact results, "
        "for small workspaces)",
    )
    ivfflat_probes: int = Field(
        default=20,
        ge=1,
        le=10000,
        description="IVFFlat lists read per search (pgvector's ivfflat.probes; a table has one list per 1 000 "
        "vectors): more finds more of the exact nearest vectors, and costs more per search",
    )
    hnsw_m: int = Field(default=16, ge=2, le=100, description="HNSW links per node (pgvector's m)")
    hnsw_ef_construction: int = Field(default=64, ge=4, le=1000, description="HNSW build candidate list size")
    hnsw_ef_search: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="HNSW search candidate list size (pgvector's hnsw.ef_search): higher finds more of the exact "
        "nearest vectors, and costs more per search",
    )
    index_build_memory_mb: int = Field(
        default=1024,
        ge=64,
        description="PostgreSQL's maintenance_work_mem while a vector index is built (an HNSW graph that does not "
        "fit is built on disk, several times slower)",
    )
    hash_dimensions: int = Field(
        default=DEFAULT_DIMENSIONS,
        ge=16,
        le=4096,
        description="the size of the hash embedder's vectors (SPARKCTL_EMBEDDER=hash); the catalog's embed model "
        "keeps its own",
    )
    llm_max_async: int = Field(default=4, ge=1, description="concurrent LLM calls per workspace")
    rerank_url: Url | None = Field(
        default=None,
        description="the server of models.toml's reranker model (vLLM's /v1 base, or any server with the rerank "
        "API of vLLM, Jina and Cohere): queries rerank the chunks they find with it; none, they keep the order "
        "of the vector search",
    )
    rerank_timeout: float = Field(
        default=30.0, gt=0, description="seconds a rerank may take before a query goes on without it"
    )
    db_max_connections: int = Field(default=16, ge=2, description="LightRAG's PostgreSQL pool, shared by workspaces")
    max_body_bytes: int = Field(default=256 * 1024 * 1024, ge=1024, description="largest request body accepted")
    insert_timeout: float = Field(default=3600.0, gt=0, description="seconds a text insert may take to index")
    graph_commit_delay: float = Field(
        default=600.0,
        gt=0,
        description="networkx: seconds after a deferred insert (a worker's batch) before the graph file is written "
        "if its writer has not asked for it by then",
    )

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _neo4j_needs_a_password(self) -> LightragSettings:
        if self.graph_storage == "neo4j" and self.neo4j_password is None:
            raise ValueError("SPARKCTL_NEO4J_PASSWORD is required when graph_storage is neo4j")
        return self
