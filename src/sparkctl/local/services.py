"""The GraphRAG services as local processes: `python -m sparkctl.services.NAME` with SPARKCTL_* settings,
ready once their /health answers (the worker, which has no port, once it is running, or once it has
logged `ready_line` when one is given)."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from sparkctl.local.process import ManagedProcess, ProcessSpec

HTTP_SERVICES = ("lightrag", "preprocessor", "orchestrator")


def http_ready(port: int, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def service_process(
    name: str, *, port: int | None, env: dict[str, str], log_dir: Path, ready_line: str | None = None
) -> ManagedProcess:
    """One service of the stack, its output in log_dir/NAME.log."""
    settings = {"SPARKCTL_HOST": "127.0.0.1", **env}
    if port is not None:
        settings["SPARKCTL_PORT"] = str(port)
    spec = ProcessSpec(
        name=name,
        argv=[sys.executable, "-m", f"sparkctl.services.{name}"],
        port=port,
        log_path=log_dir / f"{name}.log",
        ready=(lambda: http_ready(port)) if port is not None else (lambda: True),
        env=settings,
        start_timeout=60.0,
    )
    process = ManagedProcess(spec)
    if port is None and ready_line is not None:
        spec.ready = lambda: ready_line in process.output()
    return process
