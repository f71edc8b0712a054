"""Shared fixtures. Real servers come from tests/support; only the LLM and the Kubernetes API are doubles."""

from support.fake_kube import fake_kube  # noqa: F401
from support.fake_llm import fake_llm, fake_llm_server  # noqa: F401
from support.helm import helm_binary  # noqa: F401
from support.llama_server import llama_server  # noqa: F401
from support.local_cli import cli  # noqa: F401
from support.opencode import opencode_binary  # noqa: F401
from support.orchestrator import start_orchestrator  # noqa: F401
from support.servers import (  # noqa: F401
    database_url,
    nats_server,
    nats_url,
    postgres_dir,
    postgres_server,
    redis_server,
    running,
)
from support.sshd import sshd_server  # noqa: F401
from support.stack import graphrag_stack  # noqa: F401
