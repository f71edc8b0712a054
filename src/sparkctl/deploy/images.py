"""The container images the charts run, pinned; every one publishes linux/arm64 (the Spark) and linux/amd64."""

from __future__ import annotations

from dataclasses import dataclass

from sparkctl import __version__


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str
    pull_policy: str = "IfNotPresent"

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"

    def values(self) -> dict[str, str]:
        return {"repository": self.repository, "tag": self.tag, "pullPolicy": self.pull_policy}


OLLAMA = Image("docker.io/ollama/ollama", "0.12.6")
VLLM = Image("docker.io/vllm/vllm-openai", "v0.20.0")
"""From v0.20 the unsuffixed vLLM tags are CUDA 13 builds, arm64 included, which the GB10 needs."""
NEO4J = Image("docker.io/library/neo4j", "5.26-community")
POSTGRES = Image("docker.io/pgvector/pgvector", "0.8.1-pg17")
REDIS = Image("docker.io/library/redis", "7.4-alpine")
NATS = Image("docker.io/library/nats", "2.11-alpine")
SERVICES = Image("localhost/sparkctl-services", __version__, pull_policy="Never")
"""Built on the Spark from services/Containerfile into containerd's k8s.io namespace; never pulled."""
