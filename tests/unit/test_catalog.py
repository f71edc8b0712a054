"""models.toml: every validation rule names the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkctl.catalog import load_catalog, parse_catalog
from sparkctl.errors import CatalogError, UnknownModel

MINIMAL = """
[[model]]
role = "coding"
name = "coder"
tag = "q4"
source = "ollama"
backend = "ollama"
storage = "10Gi"
memory = "8Gi"
context = 8192
{extra}
"""


def catalog_with(extra: str = "", *, more: str = "") -> str:
    return MINIMAL.format(extra=extra) + more


def error_of(text: str) -> str:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, source="models.toml")
    message = caught.value.message
    assert "\n" not in message
    return message


def test_shipped_catalog_has_every_role_of_the_platform() -> None:
    catalog = load_catalog(Path(__file__).parents[2] / "models.toml")
    assert [model.role for model in catalog] == ["coding", "reasoning", "extract", "embed", "reranker"]
    assert catalog.resolve("coding").pull_ref == "qwen3-coder-next:q4_K_M"
    assert catalog.resolve("embed").dimensions == 1024
    assert catalog.resolve("reranker").pull_ref == "BAAI/bge-reranker-v2-m3"


def test_shipped_catalog_fits_the_unified_memory_and_gpu_slices() -> None:
    budget = load_catalog(Path(__file__).parents[2] / "models.toml").budget()
    assert budget.memory_fits and budget.gpu_fits
    assert budget.unified_memory == 128 * 2**30
    assert budget.total_memory <= budget.unified_memory


def test_packaged_copy_is_the_repository_copy() -> None:
    from sparkctl.catalog import default_catalog_text

    assert default_catalog_text() == (Path(__file__).parents[2] / "models.toml").read_text()


def test_unknown_field_in_a_model_is_named() -> None:
    assert error_of(catalog_with('colour = "blue"')) == "models.toml: model[0] (coder).colour: unknown field"


def test_unknown_role_lists_the_known_ones() -> None:
    message = error_of(catalog_with().replace('role = "coding"', 'role = "poetry"'))
    assert message.startswith("models.toml: model[0] (coder).role: 'poetry' is not one of")
    assert "'reasoning'" in message


def test_missing_required_field_is_named() -> None:
    message = error_of(catalog_with().replace('memory = "8Gi"\n', ""))
    assert message == "models.toml: model[0] (coder).memory: required field is missing"


def test_duplicate_model_name_is_refused() -> None:
    second = MINIMAL.format(extra="").replace('role = "coding"', 'role = "reasoning"')
    message = error_of(catalog_with(more=second))
    assert message == "models.toml: model[1] (coder): duplicate name 'coder', already used by model[0] (coder)"


def test_alias_clashing_with_another_model_is_refused() -> None:
    second = MINIMAL.format(extra='aliases = ["coder"]').replace('name = "coder"', 'name = "other"')
    message = error_of(catalog_with(more=second))
    assert "model[1] (other): duplicate name 'coder'" in message


@pytest.mark.parametrize("port", [80, 29999, 32768])
def test_node_port_outside_the_kubernetes_range_is_refused(port: int) -> None:
    message = error_of(catalog_with(f"node_port = {port}"))
    assert message.startswith("models.toml: model[0] (coder).node_port: Input should be")
    assert ("30000" in message) or ("32767" in message)


def test_node_port_used_twice_is_refused() -> None:
    second = MINIMAL.format(extra="node_port = 31000").replace('name = "coder"', 'name = "other"')
    message = error_of(catalog_with("node_port = 31000", more=second))
    assert message == "models.toml: model[1] (other).node_port: 31000 is already used by model[0] (coder)"


@pytest.mark.parametrize("name", ["Coder", "coder_1", "-coder", "coder-", "c" * 64])
def test_name_that_is_not_a_dns_label_is_refused(name: str) -> None:
    message = error_of(catalog_with().replace('name = "coder"', f'name = "{name}"'))
    assert f".name: {name!r} is not a valid DNS-1123 label" in message


@pytest.mark.parametrize("memory", ["8GB", "eight", "8 Gi", "-1Gi", "0"])
def test_memory_that_is_not_a_kubernetes_quantity_is_refused(memory: str) -> None:
    message = error_of(catalog_with().replace('memory = "8Gi"', f'memory = "{memory}"'))
    assert message.startswith("models.toml: model[0] (coder).memory: ")
    assert "Kubernetes quantity" in message or "more than zero" in message


def test_embed_model_must_declare_its_dimensions() -> None:
    message = error_of(catalog_with().replace('role = "coding"', 'role = "embed"'))
    assert message == "models.toml: model[0] (coder): an embed model needs 'dimensions' (the size of its vectors)"


def test_a_reranker_served_by_ollama_is_refused_naming_the_backend() -> None:
    message = error_of(catalog_with().replace('role = "coding"', 'role = "reranker"'))
    assert message == (
        "models.toml: model[0] (coder): a reranker needs backend = \"vllm\" (it is 'ollama'): LightRAG asks it "
        "through the rerank API, which Ollama does not serve"
    )


def test_model_named_like_a_role_is_refused() -> None:
    message = error_of(catalog_with().replace('name = "coder"', 'name = "reasoning"'))
    assert "'reasoning' is a role and cannot be a model name" in message


def test_reserved_routing_name_is_refused() -> None:
    message = error_of(catalog_with('aliases = ["auto"]'))
    assert "model[0] (coder).aliases.0: 'auto' is reserved" in message


def test_toml_syntax_error_says_where() -> None:
    message = error_of("[[model]\nname = 1")
    assert message.startswith("models.toml: not valid TOML:")
    assert "line 1" in message


def test_unknown_table_is_named() -> None:
    assert error_of(catalog_with() + "\n[extras]\nx = 1\n") == (
        "models.toml: extras: unknown table (expected [platform] and [[model]])"
    )


def test_platform_values_are_validated() -> None:
    message = error_of('[platform]\nunified_memory = "lots"\n' + catalog_with())
    assert message.startswith("models.toml: platform.unified_memory: 'lots' is not a Kubernetes quantity")


def test_catalog_without_models_is_refused() -> None:
    assert error_of("[platform]\n") == "models.toml: model: at least one [[model]] table is needed"


def test_lookup_by_role_name_alias_tools_alias_and_pull_ref() -> None:
    catalog = parse_catalog(
        catalog_with('aliases = ["qwen"]\ntools_alias = "coder-tools"')
        + MINIMAL.format(extra="").replace('name = "coder"', 'name = "backup"')
    )
    coder = catalog.models[0]
    assert catalog.resolve("coding") is coder
    assert catalog.resolve("coder") is coder
    assert catalog.resolve("qwen") is coder
    assert catalog.resolve("coder-tools") is coder
    assert catalog.resolve("coder:q4") is coder
    assert catalog.resolve("backup") is catalog.models[1]
    assert catalog.by_role("coding") == catalog.models


def test_unknown_model_lists_the_available_names() -> None:
    catalog = parse_catalog(catalog_with('aliases = ["qwen"]'))
    with pytest.raises(UnknownModel) as caught:
        catalog.resolve("gpt-4")
    assert caught.value.message == "unknown model 'gpt-4'"
    assert caught.value.hint == "available: coding, coder, qwen"


def test_search_order_is_option_then_environment_then_cwd_then_built_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    explicit = tmp_path / "explicit.toml"
    explicit.write_text(catalog_with())
    from_env = tmp_path / "env.toml"
    from_env.write_text(catalog_with().replace('name = "coder"', 'name = "from-env"'))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "models.toml").write_text(catalog_with().replace('name = "coder"', 'name = "from-cwd"'))

    monkeypatch.setenv("SPARKCTL_MODELS", str(from_env))
    assert load_catalog(explicit, cwd=cwd).models[0].name == "coder"
    assert load_catalog(None, cwd=cwd).models[0].name == "from-env"
    monkeypatch.delenv("SPARKCTL_MODELS")
    assert load_catalog(None, cwd=cwd).models[0].name == "from-cwd"
    built_in = load_catalog(None, cwd=tmp_path)
    assert built_in.path == "models.toml (built in)"
    assert built_in.resolve("coding").name == "qwen3-coder-next"


def test_missing_explicit_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "nope.toml")
    assert caught.value.message == f"{tmp_path / 'nope.toml'}: no such file"


def test_budget_adds_models_services_and_system_reserve() -> None:
    catalog = parse_catalog(
        '[platform]\nunified_memory = "20Gi"\nservices_memory = "4Gi"\nsystem_reserved = "4Gi"\ngpu_slices = 1\n'
        + catalog_with()
        + MINIMAL.format(extra="").replace('name = "coder"', 'name = "second"')
    )
    budget = catalog.budget()
    assert budget.models_memory == 16 * 2**30
    assert budget.total_memory == 24 * 2**30
    assert not budget.memory_fits
    assert budget.gpu_slices == 2 and not budget.gpu_fits
