"""docs/cluster.md shows the plans the code makes (up, down, join), not older ones."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_documented_plan_is_the_one_the_code_makes() -> None:
    spec = importlib.util.spec_from_file_location("cluster_plan", ROOT / "docs" / "cluster_plan.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    page = (ROOT / "docs" / "cluster.md").read_text()

    assert module.render(page) == page, "docs/cluster.md is stale: run python docs/cluster_plan.py"
    assert "kubeadm init --config /etc/sparkctl/kubeadm.yaml" in page
    assert "helm uninstall gpu-operator --namespace gpu-operator --wait" in page
    assert "--token ********" in page
