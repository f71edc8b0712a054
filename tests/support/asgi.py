"""Serve an ASGI app on a real port from a thread, for tests whose client is a separate program or sync code."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        """Runs in a thread: leave the signals to pytest."""


@contextmanager
def serving(app: Any, port: int, *, lifespan: str = "on") -> Iterator[str]:
    """The app listening on 127.0.0.1:port for the duration of the block; yields its base URL."""
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"test server on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
