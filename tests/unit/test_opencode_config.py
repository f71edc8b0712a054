"""OpenCode's configuration from the catalog: the orchestrator's models, direct model servers, the merge."""

from __future__ import annotations

from pathlib import Path

from sparkctl.catalog import load_catalog
from sparkctl.deploy.opencode import Target, masked, merged_config

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(ROOT / "models.toml")
MOVED = load_catalog(ROOT / "tests" / "fixtures" / "catalogs" / "vllm-and-moved.toml")


def test_the_orchestrator_offers_the_chat_roles_and_names_not_the_embedder() -> None:
    config = merged_config({}, CATALOG, Target("http://127.0.0.1:8100", "k", "default"))

    provider = config["provider"]["sparkctl"]
    assert provider["npm"] == "@ai-sdk/openai-compatible"
    assert provider["options"] == {
        "baseURL": "http://127.0.0.1:8100/v1",
        "apiKey": "k",
        "headers": {"X-Workspace": "default"},
    }
    names = list(provider["models"])
    assert names[:2] == ["coding", "reasoning"]
    assert {"qwen3-coder-next", "qwen", "deepseek-r1-tools"} <= set(names)
    assert not {"qwen3-embedding", "bge-reranker-v2-m3", "qwen3", "extract"} & set(names)
    assert provider["models"]["qwen3-coder-next"]["limit"]["context"] == 131072
    assert config["model"] == "sparkctl/coding"
    assert list(config["provider"]) == ["sparkctl"], "no model host: no direct providers"


def test_on_a_cluster_each_model_with_a_node_port_is_a_provider_of_its_own() -> None:
    config = merged_config({}, MOVED, Target("http://spark:31800", None, "default", model_host="spark"))

    direct = {name: provider for name, provider in config["provider"].items() if name != "sparkctl"}
    assert sorted(direct) == ["sparkctl-llama3", "sparkctl-qwen3-coder"]
    assert direct["sparkctl-llama3"]["options"] == {"baseURL": "http://spark:31437/v1"}
    assert list(direct["sparkctl-llama3"]["models"]) == ["llama3:8b", "llama3-tools"]
    assert list(direct["sparkctl-qwen3-coder"]["models"]) == ["qwen3-coder", "coder", "qwen", "qwen-coder-fp8"]
    assert "apiKey" not in config["provider"]["sparkctl"]["options"]


def test_a_shown_config_never_holds_the_key() -> None:
    config = merged_config({}, CATALOG, Target("http://127.0.0.1:8100", "spk-secret", "default"))

    assert "spk-secret" not in str(masked(config))
    assert config["provider"]["sparkctl"]["options"]["apiKey"] == "spk-secret"
