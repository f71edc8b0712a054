"""The Helm releases sparkctl installs for serving and for the GraphRAG stack, with their generated values,
and rendering them offline (`helm template`) for a dry run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sparkctl.catalog import Catalog
from sparkctl.cluster.actions import HelmRelease
from sparkctl.deploy.values import (
    GRAPHRAG_NAMESPACE,
    SERVING_NAMESPACE,
    Mode,
    deployment_mode,
    graphrag_values,
    serving_values,
)
from sparkctl.errors import SparkctlError

if TYPE_CHECKING:
    from sparkctl.helm import Helm

KSERVE_VERSION = "v0.20.0"
"""The KServe sparkctl installs; the installed one's version picks the InferenceServices' deployment mode."""
KSERVE_NAMESPACE = "kserve"
KSERVE_CHARTS = ("kserve-crd", "kserve-resources")
"""KServe's charts, from oci://ghcr.io/kserve/charts: its CRDs first, then its controller."""
CERT_MANAGER = HelmRelease(
    release="cert-manager",
    chart="cert-manager",
    repo="https://charts.jetstack.io",
    version="v1.17.0",
    namespace="cert-manager",
    values={"crds": {"enabled": True}},
)
"""The cert-manager KServe's own installer uses with v0.20.0: the KServe webhook's certificate comes from it."""
CHARTS_DIR = Path(__file__).resolve().parent.parent / "charts"


@dataclass(frozen=True)
class ChartRelease:
    """One of sparkctl's own charts as a release: its name, namespace and generated values."""

    release: str
    chart: str
    namespace: str
    values: dict[str, Any]

    @property
    def chart_dir(self) -> Path:
        path = CHARTS_DIR / self.chart
        if not (path / "Chart.yaml").is_file():
            raise SparkctlError(
                f"the {self.chart} chart is missing from this installation of sparkctl ({path})",
                hint="Reinstall sparkctl (pip install --force-reinstall sparkctl).",
            )
        return path

    def render(self, helm: Helm) -> list[dict[str, Any]]:
        """Every manifest the release would hold, rendered offline."""
        return helm.template(
            self.release, self.chart_dir, repo=None, version=None, namespace=self.namespace, values=self.values
        )


def serving_release(
    catalog: Catalog, *, mode: Mode = "kserve", models: list[str] | None = None, kserve_version: str = KSERVE_VERSION
) -> ChartRelease:
    """charts/llm-serving for the catalog's serving models, or only those named (by name, alias or role)."""
    values = serving_values(catalog, mode=mode, kserve_version=kserve_version)
    if models:
        wanted = {catalog.resolve(name).name for name in models}
        chosen = [server for server in values["models"] if server["name"] in wanted]
        if not chosen:
            raise SparkctlError(
                f"{', '.join(models)}: not served by llm-serving (GraphRAG's own models go with `graphrag deploy`)",
                hint="Name models of roles coding, reasoning or general.",
            )
        values = {**values, "models": chosen}
    return ChartRelease("llm-serving", "llm-serving", SERVING_NAMESPACE, values)


def kserve_values(version: str) -> dict[str, Any]:
    """KServe's controller: raw deployments (no Knative), no ingress (no Gateway on one node)."""
    return {
        "kserve": {
            "version": version,
            "controller": {"deploymentMode": deployment_mode(version), "gateway": {"disableIngressCreation": True}},
        }
    }


def graphrag_release(catalog: Catalog) -> ChartRelease:
    return ChartRelease(
        "graphrag", "graphrag", GRAPHRAG_NAMESPACE, graphrag_values(catalog, catalog_text=catalog_text(catalog))
    )


def catalog_text(catalog: Catalog) -> str:
    """The models.toml the services read in the cluster: the very file the catalog came from."""
    from sparkctl.catalog import default_catalog_text

    path = Path(catalog.path)
    return path.read_text(encoding="utf-8") if path.is_file() else default_catalog_text()


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (Modelfiles, models.toml) as literal blocks, the way a person writes them."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _string)


def manifests_yaml(manifests: list[dict[str, Any]]) -> str:
    """One YAML stream, as `kubectl apply -f -` reads it."""
    return yaml.dump_all(manifests, Dumper=_BlockDumper, sort_keys=False, explicit_start=True, allow_unicode=True)
