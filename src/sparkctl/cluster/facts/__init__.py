"""Facts: what a host, its cluster and its Helm releases are now, read without changing anything."""

from sparkctl.cluster.facts.base import (
    Fact,
    FactError,
    Facts,
    HelmFact,
    HostFact,
    KubeFact,
    LiveFacts,
    LocalFact,
    RefreshableFacts,
)

__all__ = [
    "Fact",
    "FactError",
    "Facts",
    "HelmFact",
    "HostFact",
    "KubeFact",
    "LiveFacts",
    "LocalFact",
    "RefreshableFacts",
]
