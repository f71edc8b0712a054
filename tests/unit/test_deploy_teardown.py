"""Which releases and namespaces `teardown` removes, in which order, from the catalog."""

from __future__ import annotations

from pathlib import Path

from sparkctl.catalog import load_catalog
from sparkctl.deploy.teardown import stacks

ROOT = Path(__file__).resolve().parents[2]


def test_graphrag_goes_before_serving_and_serving_top_down() -> None:
    removed = stacks(load_catalog(ROOT / "models.toml"), ["serve", "graphrag"])

    assert [stack.name for stack in removed] == ["graphrag", "serve"]
    assert [release for release, _ in removed[1].releases] == [
        "llm-serving",
        "kserve-resources",
        "kserve-crd",
        "cert-manager",
    ]


def test_a_model_in_another_namespace_brings_its_namespace() -> None:
    removed = stacks(load_catalog(ROOT / "tests" / "fixtures" / "catalogs" / "vllm-and-moved.toml"), ["serve"])

    assert removed[0].namespaces == ("llm-serving", "research", "kserve", "cert-manager")
