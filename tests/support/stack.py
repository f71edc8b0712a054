"""The whole GraphRAG stack in one test process: orchestrator, LightRAG, preprocessor and worker,
on the session's real PostgreSQL and NATS. The LLM behind it is the test double (support.fake_llm)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from sparkctl.local.process import free_port
from sparkctl.local.servers import EmbeddedServer
from support.asgi import serving
from support.fake_llm import FakeLLM

API_KEY = "stack-key"


@dataclass
class Stack:
    orchestrator: str
    lightrag: str
    preprocessor: str
    database_url: str
    api_key: str = API_KEY


class WorkerThread:
    """The ingest worker on its own event loop in a thread, stopped cleanly at the end."""

    def __init__(self, settings: object) -> None:
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from sparkctl.services.worker.service import run_worker

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await run_worker(self.settings, self._stop)  # type: ignore[arg-type]

        asyncio.run(main())

    def __enter__(self) -> WorkerThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def graphrag_stack(
    database_url: str, nats_url: str, redis_server: EmbeddedServer, fake_llm: FakeLLM, tmp_path: Path
) -> Iterator[Stack]:
    from sparkctl.services.lightrag.app import create_app as lightrag_app
    from sparkctl.services.lightrag.settings import LightragSettings
    from sparkctl.services.orchestrator.app import create_app as orchestrator_app
    from sparkctl.services.orchestrator.settings import OrchestratorSettings
    from sparkctl.services.preprocessor.app import create_app as preprocessor_app
    from sparkctl.services.preprocessor.settings import PreprocessorSettings
    from sparkctl.services.worker.settings import WorkerSettings

    ports = {name: free_port() for name in ("orchestrator", "lightrag", "preprocessor")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with ExitStack() as stack:
        stack.enter_context(serving(lightrag_app(LightragSettings(
            database_url=database_url, graph_storage="networkx", data_dir=tmp_path / "lightrag",
            llm_url=fake_llm.url, embedder="hash", prose_mode="chunks",
        )), ports["lightrag"]))
        stack.enter_context(serving(preprocessor_app(PreprocessorSettings(lightrag_url=urls["lightrag"])),
                                    ports["preprocessor"]))
        stack.enter_context(serving(orchestrator_app(OrchestratorSettings(
            database_url=database_url, redis_url=redis_server.url, nats_url=nats_url, lightrag_url=urls["lightrag"],
            llm_url=fake_llm.url, api_keys=API_KEY,
        )), ports["orchestrator"]))
        stack.enter_context(WorkerThread(WorkerSettings(
            database_url=database_url, nats_url=nats_url, preprocessor_url=urls["preprocessor"],
            lightrag_url=urls["lightrag"], ack_wait=30.0,
        )))
        yield Stack(urls["orchestrator"], urls["lightrag"], urls["preprocessor"], database_url)
