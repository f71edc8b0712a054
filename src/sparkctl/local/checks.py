"""What `sparkctl local up` checks before it starts anything: the data directory, the orchestrator's port, and the
model server (reachable, and serving embeddings of the size models.toml says)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from sparkctl.catalog import Catalog
from sparkctl.errors import ConfigError, PortInUse, ProcessError
from sparkctl.local.process import ensure_port_free
from sparkctl.local.state import DATA_MARKER


def llm_reachable(url: str, timeout: float = 2.0) -> bool:
    """True when Ollama (/api/tags) or an OpenAI-compatible server (/models under a /v1 base) answers."""
    for path in ("/api/tags", "/models"):
        try:
            if httpx.get(url.rstrip("/") + path, timeout=timeout).status_code == 200:
                return True
        except httpx.HTTPError:
            continue
    return False


def llm_warning(url: str, embedder: str) -> str | None:
    if llm_reachable(url):
        return None
    consequence = (
        "code ingestion and the graph work with the hash embedder"
        if embedder == "hash"
        else "embeddings need it too: start it, or use --embedder hash to index code offline"
    )
    return (
        f"no LLM server answers at {url} (tried /api/tags and /models): chat and document extraction fail "
        f"until one does; {consequence}."
    )


def check_embedder(url: str, catalog: Catalog) -> None:
    """One short embedding from the catalog's embed model at `url`: ProcessError when its vectors are not the
    size models.toml says (every ingest would fail); nothing when the server does not answer (warned apart)."""
    import asyncio

    from sparkctl.services.common.llm import LlmClient, LlmError, create_http_client

    embed = catalog.by_role("embed")
    if not embed or not llm_reachable(url):
        return

    async def size() -> int:
        async with create_http_client(30) as http:
            return int((await LlmClient(url, http).embed(embed[0].pull_ref, ["the size of a vector"])).shape[1])

    try:
        found = asyncio.run(size())
    except LlmError:
        return
    if found != embed[0].dimensions:
        raise ProcessError(
            f"the model server at {url} returned {found}-dimensional embeddings from {embed[0].pull_ref}; "
            f"models.toml says {embed[0].dimensions}",
            hint="Serve the catalog's embed model there (--llm-url), give models.toml that model's dimensions "
            "(--models), or use --embedder hash.",
        )


def prepare_data_dir(path: Path) -> None:
    """Create the data directory and mark it as the local stack's; ConfigError when it cannot be written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        (path / DATA_MARKER).write_text("data of a sparkctl local stack\n")
    except OSError as exc:
        raise ConfigError(
            f"the data directory {path} is not writable: {exc.strerror or exc}",
            hint="Choose a writable directory with --data-dir.",
        ) from None


def check_orchestrator_port(port: int) -> None:
    try:
        ensure_port_free(port, "the orchestrator")
    except PortInUse:
        raise PortInUse(
            f"port {port}, where the orchestrator would listen, is already in use",
            hint=f"Choose another with --port, or stop what listens there (ss -ltnp 'sport = :{port}').",
        ) from None
