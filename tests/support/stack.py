"""The whole GraphRAG stack in one test process: orchestrator, LightRAG, preprocessor and worker,
on the session's real PostgreSQL and NATS. The LLM behind it is the test double (support.fake_llm)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    nats_url: str
    api_key: str = API_KEY

    def worker_settings(self, **overrides: object) -> Any:
        from sparkctl.services.worker.settings import WorkerSettings

        values: dict[str, object] = {
            "database_url": self.database_url, "nats_url": self.nats_url, "preprocessor_url": self.preprocessor,
            "lightrag_url": self.lightrag, "ack_wait": 30.0,
        }  # fmt: skip
        return WorkerSettings(**(values | overrides))  # type: ignore[arg-type]


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

        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(main())

    def __enter__(self) -> WorkerThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def kill(self) -> None:
        """Die as a killed process does: every task cancelled where it stands, nothing finished or acknowledged."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(lambda: [task.cancel() for task in asyncio.all_tasks(loop)])
        self._thread.join(30)


@contextmanager
def services(
    database_url: str,
    nats_url: str,
    redis_url: str,
    llm_url: str,
    data_dir: Path,
    *,
    worker: bool = True,
    api_keys: str = API_KEY,
    **lightrag: Any,
) -> Iterator[Stack]:
    """The four services on free ports; without `worker`, a test runs its own WorkerThreads. `api_keys` are the
    orchestrator's (SPARKCTL_API_KEYS); `lightrag` changes LightRAG's settings (prose extraction, a real embedder)."""
    from sparkctl.services.lightrag.app import create_app as lightrag_app
    from sparkctl.services.lightrag.settings import LightragSettings
    from sparkctl.services.orchestrator.app import create_app as orchestrator_app
    from sparkctl.services.orchestrator.settings import OrchestratorSettings
    from sparkctl.services.preprocessor.app import create_app as preprocessor_app
    from sparkctl.services.preprocessor.settings import PreprocessorSettings

    ports = {name: free_port() for name in ("orchestrator", "lightrag", "preprocessor")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with ExitStack() as stack:
        stack.enter_context(
            serving(
                lightrag_app(
                    LightragSettings(
                        **{
                            "database_url": database_url,
                            "graph_storage": "networkx",
                            "data_dir": data_dir / "lightrag",
                            "llm_url": llm_url,
                            "embedder": "hash",
                            "prose_mode": "chunks",
                        }
                        | lightrag
                    )
                ),
                ports["lightrag"],
            )
        )
        stack.enter_context(
            serving(preprocessor_app(PreprocessorSettings(lightrag_url=urls["lightrag"])), ports["preprocessor"])
        )
        stack.enter_context(
            serving(
                orchestrator_app(
                    OrchestratorSettings(
                        database_url=database_url,
                        redis_url=redis_url,
                        nats_url=nats_url,
                        lightrag_url=urls["lightrag"],
                        llm_url=llm_url,
                        api_keys=api_keys,
                    )
                ),
                ports["orchestrator"],
            )
        )
        running = Stack(urls["orchestrator"], urls["lightrag"], urls["preprocessor"], database_url, nats_url)
        if worker:
            stack.enter_context(WorkerThread(running.worker_settings()))
        yield running


@pytest.fixture
def graphrag_stack(
    database_url: str, nats_url: str, redis_server: EmbeddedServer, fake_llm: FakeLLM, tmp_path: Path
) -> Iterator[Stack]:
    with services(database_url, nats_url, redis_server.url, fake_llm.url, tmp_path) as stack:
        yield stack
