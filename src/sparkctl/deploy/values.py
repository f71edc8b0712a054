"""Chart values generated from the catalog, so that models.toml stays the only place a model is described.

`serving_values` feeds charts/llm-serving (the models people chat with: roles coding, reasoning, general);
`graphrag_values` feeds charts/graphrag (its own model servers, roles embed, extract and reranker, and the
services). Both describe a model server the same way (`model_server`), and the services reach every server
at the same in-cluster URL (`server_url`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

from sparkctl.catalog import Catalog, Model
from sparkctl.deploy import images
from sparkctl.deploy.modelfile import tools_modelfile
from sparkctl.errors import CatalogError
from sparkctl.quantity import parse_quantity

GRAPHRAG_ROLES = ("embed", "extract", "reranker")
GRAPHRAG_NAMESPACE = "graphrag"
SERVING_NAMESPACE = "llm-serving"
MODELS_MOUNT = "/models"
OLLAMA_MODELS_DIR = f"{MODELS_MOUNT}/ollama"
"""Where a model's claim holds Ollama's store (OLLAMA_MODELS); `models pull` writes there."""
HF_DIR = f"{MODELS_MOUNT}/hf"
"""Where a model's claim holds Hugging Face snapshots, one directory per repo id."""
PORTS = {"ollama": 11434, "vllm": 8000}
VLLM_MEMORY_SHARE = Decimal("0.8")
"""The part of a vLLM pod's memory limit its GPU allocations may take; the process itself needs the rest."""
CREDENTIALS_SECRET = "graphrag-credentials"
CREDENTIAL_KEYS = ("postgres-password", "neo4j-password", "api-keys", "service-key")
"""Made once by sparkctl in the GraphRAG namespace (never by the chart, so no rendered manifest holds them)."""
KSERVE_STANDARD_FROM = (0, 17)
"""KServe 0.17 renamed the raw deployment mode from RawDeployment to Standard."""

Mode = Literal["kserve", "plain"]


@dataclass(frozen=True)
class Component:
    """A GraphRAG service: its pod's memory limit and CPU request, its port, and where it is exposed."""

    memory: str
    cpu: str
    port: int
    node_port: int | None = None
    storage: str | None = None


COMPONENTS: dict[str, Component] = {
    "neo4j": Component(memory="6Gi", cpu="1", port=7687, node_port=31474, storage="20Gi"),
    "postgres": Component(memory="2Gi", cpu="500m", port=5432, storage="20Gi"),
    "lightrag": Component(memory="2Gi", cpu="500m", port=9621, node_port=31436),
    "orchestrator": Component(memory="1Gi", cpu="250m", port=8100, node_port=31800),
    "preprocessor": Component(memory="1Gi", cpu="500m", port=8090, node_port=31490),
    "redis": Component(memory="1Gi", cpu="100m", port=6379, storage="2Gi"),
    "worker": Component(memory="512Mi", cpu="250m", port=0),
    "nats": Component(memory="512Mi", cpu="100m", port=4222, storage="5Gi"),
}
"""Together 14 GiB, models.toml's [platform].services_memory. Neo4j's browser is its HTTP port, 7474."""
PREPROCESSOR_WORKERS = 2
"""Parser processes of the preprocessor: its default, one per CPU (20 on the GB10), would not fit its 1 GiB."""


def serving_models(catalog: Catalog) -> list[Model]:
    return [model for model in catalog if model.role not in GRAPHRAG_ROLES]


def graphrag_models(catalog: Catalog) -> list[Model]:
    return [model for model in catalog if model.role in GRAPHRAG_ROLES]


def server_url(model: Model) -> str:
    """The model server's URL in the cluster: Ollama's API, or vLLM's OpenAI-compatible /v1 base."""
    base = f"http://{model.name}.{model.namespace}.svc.cluster.local:{PORTS[model.backend]}"
    return f"{base}/v1" if model.backend == "vllm" else base


def hf_path(model: Model) -> str:
    return f"{HF_DIR}/{model.source_ref}"


def gpu_memory_utilization(model: Model, unified_memory: str) -> float:
    """vLLM's --gpu-memory-utilization: a share of the whole unified memory, from the model's own limit."""
    share = model.memory_bytes * VLLM_MEMORY_SHARE / parse_quantity(unified_memory)
    return float(max(share.quantize(Decimal("0.001"), rounding=ROUND_DOWN), Decimal("0.001")))


def deployment_mode(kserve_version: str) -> str:
    """The value of the serving.kserve.io/deploymentMode annotation for this KServe version."""
    parts = kserve_version.lstrip("v").split(".")
    try:
        version = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        raise CatalogError(f"{kserve_version!r} is not a KServe version", hint="Use one such as v0.20.0.") from None
    return "Standard" if version >= KSERVE_STANDARD_FROM else "RawDeployment"


def model_server(model: Model, catalog: Catalog) -> dict[str, Any]:
    """One model server as both charts describe it: what runs, with which weights, memory and GPU slices."""
    if model.backend == "vllm" and model.source != "huggingface":
        raise CatalogError(
            f"model {model.name}: backend vllm serves Hugging Face weights, but its source is {model.source}",
            hint='Set source = "huggingface" and ref to the repo id, or backend = "ollama".',
        )
    server: dict[str, Any] = {
        "name": model.name,
        "namespace": model.namespace,
        "role": model.role,
        "backend": model.backend,
        "port": PORTS[model.backend],
        "claim": model.claim_name,
        "memory": model.memory,
        "gpuSlices": model.gpu_slices,
        "context": model.context,
        "nodePort": model.node_port,
        "servedNames": list(model.routing_names()),
    }
    if model.backend == "ollama":
        server["ollama"] = {"model": model.pull_ref, "modelsDir": OLLAMA_MODELS_DIR}
        if model.tools_alias:
            server["ollama"]["toolsAlias"] = model.tools_alias
            server["ollama"]["modelfile"] = tools_modelfile(model)
    else:
        server["vllm"] = {
            "modelPath": hf_path(model),
            "maxModelLen": model.context,
            "gpuMemoryUtilization": gpu_memory_utilization(model, catalog.platform.unified_memory),
        }
    return server


def serving_values(catalog: Catalog, *, mode: Mode = "kserve", kserve_version: str) -> dict[str, Any]:
    """charts/llm-serving's values: every model of roles other than GraphRAG's, in KServe or plain mode."""
    return {
        "mode": mode,
        "kserve": {"deploymentMode": deployment_mode(kserve_version)},
        "images": {"ollama": images.OLLAMA.values(), "vllm": images.VLLM.values()},
        "models": [model_server(model, catalog) for model in serving_models(catalog)],
    }


def graphrag_values(catalog: Catalog, *, catalog_text: str) -> dict[str, Any]:
    """charts/graphrag's values: its model servers, its services and their settings, from the catalog.

    The orchestrator reaches every model at its server's URL (SPARKCTL_MODEL_URLS); LightRAG extracts with
    the first `extract` model, embeds with the first `embed` model and reranks with the first `reranker`, when
    there is one. Credentials are not values: the chart reads them from the Secret sparkctl creates once (see
    deploy/secrets.py).
    """
    for role in ("extract", "embed"):
        if not catalog.by_role(role):
            raise CatalogError(f"the GraphRAG stack needs a model of role {role!r}", hint="Add one to models.toml.")
    extract, embed = catalog.by_role("extract")[0], catalog.by_role("embed")[0]
    rerankers = catalog.by_role("reranker")
    return {
        "images": {
            "ollama": images.OLLAMA.values(),
            "vllm": images.VLLM.values(),
            "services": images.SERVICES.values(),
            "neo4j": images.NEO4J.values(),
            "postgres": images.POSTGRES.values(),
            "redis": images.REDIS.values(),
            "nats": images.NATS.values(),
        },
        "storageClass": "longhorn",
        "models": [model_server(model, catalog) for model in graphrag_models(catalog)],
        "components": {
            name: {
                "memory": component.memory,
                "cpu": component.cpu,
                "port": component.port,
                "nodePort": component.node_port,
                "storage": component.storage,
            }
            for name, component in COMPONENTS.items()
        },
        "settings": {
            "llmUrl": server_url(extract),
            "embedUrl": server_url(embed),
            "rerankUrl": server_url(rerankers[0]) if rerankers else "",
            "modelUrls": json.dumps({model.name: server_url(model) for model in catalog}, separators=(",", ":")),
            "preprocessorWorkers": PREPROCESSOR_WORKERS,
        },
        "credentials": {"secretName": CREDENTIALS_SECRET},
        "catalog": catalog_text,
    }
