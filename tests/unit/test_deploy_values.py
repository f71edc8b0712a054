"""Chart values and the memory budget, generated from catalogs: what the charts are given, and what is refused."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from sparkctl.catalog import load_catalog, parse_catalog
from sparkctl.deploy.budget import GiB, OverBudget, check_budget, memory_budget
from sparkctl.deploy.releases import graphrag_release, manifests_yaml, serving_release
from sparkctl.deploy.values import deployment_mode, gpu_memory_utilization, graphrag_values, serving_values
from sparkctl.errors import CatalogError, SparkctlError

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = load_catalog(ROOT / "models.toml")
MOVED = load_catalog(ROOT / "tests" / "fixtures" / "catalogs" / "vllm-and-moved.toml")

SEED_LIMITS = """
[platform]
unified_memory = "128Gi"
system_reserved = "16Gi"

[[model]]
role = "coding"
name = "qwen3-coder-next"
tag = "q4_K_M"
source = "ollama"
backend = "ollama"
storage = "60Gi"
memory = "120Gi"
context = 131072

[[model]]
role = "reasoning"
name = "deepseek-r1"
tag = "32b"
source = "ollama"
backend = "ollama"
storage = "25Gi"
memory = "120Gi"
context = 32768

[[model]]
role = "extract"
name = "qwen3"
tag = "8b"
source = "ollama"
backend = "ollama"
namespace = "graphrag"
storage = "10Gi"
memory = "16Gi"
context = 32768

[[model]]
role = "embed"
name = "qwen3-embedding"
tag = "0.6b"
source = "ollama"
backend = "ollama"
namespace = "graphrag"
storage = "2Gi"
memory = "8Gi"
context = 8192
dimensions = 1024
"""
"""The seed's own limits: two serving models at 120 GiB each on a 128 GiB machine."""


def test_serving_gets_the_models_people_chat_with_and_graphrag_its_own() -> None:
    serving = serving_values(REPOSITORY, kserve_version="v0.20.0")
    graphrag = graphrag_values(REPOSITORY, catalog_text="")

    assert [model["name"] for model in serving["models"]] == ["qwen3-coder-next", "deepseek-r1"]
    assert [model["name"] for model in graphrag["models"]] == ["qwen3", "qwen3-embedding", "bge-reranker-v2-m3"]
    coder = serving["models"][0]
    assert (coder["memory"], coder["gpuSlices"], coder["context"], coder["nodePort"]) == ("54Gi", 1, 131072, 31434)
    assert coder["ollama"] == {"model": "qwen3-coder-next:q4_K_M", "modelsDir": "/models/ollama"}
    assert coder["claim"] == "qwen3-coder-next-models"


def test_graphrag_settings_point_every_model_at_its_server() -> None:
    settings = graphrag_values(MOVED, catalog_text="")["settings"]

    assert settings["llmUrl"] == "http://qwen3.graphrag.svc.cluster.local:11434"
    assert json.loads(settings["modelUrls"])["llama3"] == "http://llama3.research.svc.cluster.local:11434"


@pytest.mark.parametrize(
    ("version", "mode"),
    [("v0.15.2", "RawDeployment"), ("0.16.0", "RawDeployment"), ("v0.17.0", "Standard"), ("v1.0.0", "Standard")],
)
def test_deployment_mode_by_kserve_version(version: str, mode: str) -> None:
    assert deployment_mode(version) == mode


def test_a_version_that_is_not_one_is_refused() -> None:
    with pytest.raises(CatalogError, match="'latest' is not a KServe version"):
        deployment_mode("latest")


def test_vllm_memory_share_is_80_percent_of_its_limit_against_unified_memory() -> None:
    reranker = REPOSITORY.resolve("bge-reranker-v2-m3")

    assert gpu_memory_utilization(reranker, "128Gi") == 0.025
    assert gpu_memory_utilization(MOVED.resolve("qwen3-coder"), "128Gi") == 0.25


def test_vllm_needs_hugging_face_weights() -> None:
    text = (ROOT / "models.toml").read_text().replace('backend = "ollama"', 'backend = "vllm"', 1)

    with pytest.raises(CatalogError, match="qwen3-coder-next: backend vllm serves Hugging Face weights"):
        serving_values(parse_catalog(text), kserve_version="v0.20.0")


def test_graphrag_without_an_extract_model_is_refused() -> None:
    text = SEED_LIMITS.replace('role = "extract"', 'role = "general"')

    with pytest.raises(CatalogError, match="needs a model of role 'extract'"):
        graphrag_values(parse_catalog(text), catalog_text="")


def test_serving_only_the_models_asked_for_by_name_alias_or_role() -> None:
    assert [m["name"] for m in serving_release(REPOSITORY, models=["deepseek"]).values["models"]] == ["deepseek-r1"]
    assert [m["name"] for m in serving_release(REPOSITORY, models=["coding"]).values["models"]] == ["qwen3-coder-next"]
    with pytest.raises(SparkctlError, match="not served by llm-serving"):
        serving_release(REPOSITORY, models=["qwen3"])


def test_the_repository_catalog_fits_its_memory() -> None:
    budget = memory_budget(REPOSITORY, serving_release(REPOSITORY).values, graphrag_release(REPOSITORY).values)

    assert budget.fits
    assert budget.total == 128 * GiB, "the catalog's own budget comment: everything adds up to 128 GiB"
    check_budget(budget, force=False)


def test_the_seeds_120_gib_limits_are_refused_naming_the_biggest_consumers() -> None:
    catalog = parse_catalog(SEED_LIMITS)
    budget = memory_budget(catalog, serving_release(catalog).values, graphrag_release(catalog).values)

    with pytest.raises(OverBudget) as refused:
        check_budget(budget, force=False)

    assert not budget.fits
    assert budget.total == Decimal(120 + 120 + 16 + 8 + 14 + 16) * GiB
    message = refused.value.message
    assert message.startswith("the memory limits add up to 294 GiB, 166 GiB over the 128 GiB of unified memory")
    assert "biggest: deepseek-r1 120 GiB, qwen3-coder-next 120 GiB, qwen3 16 GiB" in message
    assert "models.toml" in refused.value.hint
    check_budget(budget, force=True)


def test_manifests_yaml_keeps_multi_line_text_readable() -> None:
    text = manifests_yaml([{"kind": "ConfigMap", "data": {"Modelfile": "FROM x\nPARAMETER num_ctx 8\n"}}])

    assert text == "---\nkind: ConfigMap\ndata:\n  Modelfile: |\n    FROM x\n    PARAMETER num_ctx 8\n"
