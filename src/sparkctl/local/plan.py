"""The local stack's plan: its options, and from them each process with its port and SPARKCTL_* settings (those
the chart sets, with local storage for LightRAG's graph), before anything starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sparkctl.local.process import ManagedProcess, free_port
from sparkctl.local.servers import nats, postgres, redis
from sparkctl.local.services import service_process
from sparkctl.local.state import SERVICES

SERVER_PORTS = ("postgres", "redis", "nats", "lightrag", "preprocessor")
"""The processes that listen on a port of their own choosing (the orchestrator's is an option)."""

DEFAULT_PORT = 8100
DEFAULT_LLM_URL = "http://127.0.0.1:11434"
WORKER_READY_LINE = "worker consuming"


@dataclass(frozen=True)
class StackOptions:
    data_dir: Path
    port: int = DEFAULT_PORT
    llm_url: str = DEFAULT_LLM_URL
    embedder: str = "llm"
    api_key: str | None = None
    detach: bool = False

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def build_processes(options: StackOptions, ports: dict[str, int]) -> dict[str, ManagedProcess]:
    """Every process of the stack, in start order, on these ports (one per name of SERVER_PORTS)."""
    data, logs = options.data_dir, options.data_dir / "logs"
    servers = {
        "postgres": postgres(data, ports["postgres"]),
        "redis": redis(data, ports["redis"]),
        "nats": nats(data, ports["nats"]),
    }
    service_ports: dict[str, int | None] = {
        "lightrag": ports["lightrag"],
        "preprocessor": ports["preprocessor"],
        "orchestrator": options.port,
        "worker": None,
    }
    env = service_env(options, {name: server.url for name, server in servers.items()}, service_ports)
    processes = {name: server.process for name, server in servers.items()}
    for name in SERVICES:
        processes[name] = service_process(
            name,
            port=service_ports[name],
            env=env[name],
            log_dir=logs,
            ready_line=WORKER_READY_LINE if name == "worker" else None,
        )
    return processes


def distinct_free_ports(count: int, exclude: set[int]) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports and port not in exclude:
            ports.append(port)
    return ports


def service_env(
    options: StackOptions, server_urls: dict[str, str], ports: dict[str, int | None]
) -> dict[str, dict[str, str]]:
    """Each service's SPARKCTL_* settings: those the chart sets, with local storage for LightRAG's graph."""
    common = {
        "SPARKCTL_DATABASE_URL": server_urls["postgres"],
        "SPARKCTL_REDIS_URL": server_urls["redis"],
        "SPARKCTL_NATS_URL": server_urls["nats"],
        "SPARKCTL_LIGHTRAG_URL": f"http://127.0.0.1:{ports['lightrag']}",
        "SPARKCTL_PREPROCESSOR_URL": f"http://127.0.0.1:{ports['preprocessor']}",
        "SPARKCTL_EMBEDDER": options.embedder,
        "SPARKCTL_LLM_URL": options.llm_url,
        "SPARKCTL_LOG_LEVEL": "info",
    }
    env = {name: dict(common) for name in SERVICES}
    env["lightrag"] |= {
        "SPARKCTL_GRAPH_STORAGE": "networkx",
        "SPARKCTL_DATA_DIR": str(options.data_dir / "lightrag"),
        "SPARKCTL_VECTOR_INDEX": "ivfflat",
    }
    if options.api_key is not None:
        env["orchestrator"]["SPARKCTL_API_KEYS"] = options.api_key
    return env
