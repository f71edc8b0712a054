"""charts/llm-serving and charts/graphrag rendered by the real helm binary from values generated from a catalog.

Two catalogs: the repository's models.toml, and tests/fixtures/catalogs/vllm-and-moved.toml (the coding model on
vLLM, extra aliases, a model in another namespace with a tools alias, an embedder without a GPU slice). Every
rendered object is validated for Kubernetes 1.34 with kubernetes-validate (strict: unknown fields are errors);
InferenceServices against KServe v0.20.0's CRD schema, kept in tests/fixtures/crds/ and made strict the same way.
No API server is involved: `helm template` and `helm lint` run offline.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from sparkctl.catalog import Catalog, load_catalog
from sparkctl.deploy.values import graphrag_models, graphrag_values, serving_models, serving_values
from sparkctl.errors import HelmError
from sparkctl.helm import Helm

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
FIXTURES = ROOT / "tests" / "fixtures"
CATALOGS = {"repository": ROOT / "models.toml", "vllm-and-moved": FIXTURES / "catalogs" / "vllm-and-moved.toml"}
KUBERNETES = "1.34.0"
KSERVE_VERSION = "v0.20.0"


def _catalog(name: str) -> tuple[Catalog, str]:
    path = CATALOGS[name]
    return load_catalog(path), path.read_text()


def _values(chart: str, catalog_name: str, mode: str) -> dict[str, Any]:
    catalog, text = _catalog(catalog_name)
    if chart == "llm-serving":
        return serving_values(catalog, mode=mode, kserve_version=KSERVE_VERSION)  # type: ignore[arg-type]
    return graphrag_values(catalog, catalog_text=text)


CASES = [
    (chart, catalog, mode)
    for chart, modes in (("llm-serving", ("kserve", "plain")), ("graphrag", ("plain",)))
    for catalog in CATALOGS
    for mode in modes
]
IDS = [f"{chart}-{catalog}-{mode}" for chart, catalog, mode in CASES]


def _render(helm_binary: Path, chart: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    return Helm(helm_binary).template(chart, CHARTS / chart, repo=None, version=None, namespace=chart, values=values)


@cache
def _inference_service_schema() -> dict[str, Any]:
    path = FIXTURES / "crds" / "inferenceservice-v1beta1.kserve-v0.20.0.schema.json.gz"
    return _strict(json.loads(gzip.decompress(path.read_bytes())))


def _strict(schema: Any) -> Any:
    """A CRD's structural schema with unknown fields refused, as `kubectl apply --validate=strict` does."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    open_ended = "additionalProperties" in strict or strict.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in strict and not open_ended:
        strict["additionalProperties"] = False
    return strict


def _validate(obj: dict[str, Any]) -> None:
    if obj["kind"] == "InferenceService":
        body = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind", "metadata")}
        jsonschema.validate({"apiVersion": obj["apiVersion"], "kind": obj["kind"], **body}, _inference_service_schema())
        return
    kubernetes_validate.validate(obj, KUBERNETES, strict=True)


@pytest.mark.parametrize(("chart", "catalog", "mode"), CASES, ids=IDS)
def test_lint_is_clean(helm_binary: Path, tmp_path: Path, chart: str, catalog: str, mode: str) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(_values(chart, catalog, mode)))

    result = subprocess.run(
        [helm_binary, "lint", CHARTS / chart, "--strict", "-f", values], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize(("chart", "catalog", "mode"), CASES, ids=IDS)
def test_every_rendered_object_is_valid_for_kubernetes_1_34(
    helm_binary: Path, chart: str, catalog: str, mode: str
) -> None:
    rendered = _render(helm_binary, chart, _values(chart, catalog, mode))

    assert rendered
    for obj in rendered:
        _validate(obj)


@pytest.mark.parametrize("catalog", list(CATALOGS))
@pytest.mark.parametrize("mode", ["kserve", "plain"])
def test_serving_objects_match_the_catalog(helm_binary: Path, catalog: str, mode: str) -> None:
    models = serving_models(_catalog(catalog)[0])
    rendered = _render(helm_binary, "llm-serving", _values("llm-serving", catalog, mode))
    workload_kind = "InferenceService" if mode == "kserve" else "Deployment"

    workloads = {obj["metadata"]["name"]: obj for obj in rendered if obj["kind"] == workload_kind}
    services = {obj["metadata"]["name"]: obj for obj in rendered if obj["kind"] == "Service"}
    assert sorted(workloads) == sorted(services) == sorted(model.name for model in models)
    for model in models:
        workload, service = workloads[model.name], services[model.name]
        assert workload["metadata"]["namespace"] == service["metadata"]["namespace"] == model.namespace
        pod = workload["spec"]["predictor"] if mode == "kserve" else workload["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["name"] == "kserve-container"
        limits = container["resources"]["limits"]
        assert limits["memory"] == model.memory
        assert limits.get("nvidia.com/gpu", 0) == model.gpu_slices
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
        assert claims == [model.claim_name]
        assert _context(container) == model.context
        (port,) = service["spec"]["ports"]
        assert port.get("nodePort") == model.node_port
        assert service["spec"]["type"] == ("NodePort" if model.node_port else "ClusterIP")
        assert service["spec"]["selector"].items() <= _pod_labels(workload, mode).items()


def _context(container: dict[str, Any]) -> int:
    env = {item["name"]: item.get("value") for item in container.get("env", [])}
    if "OLLAMA_CONTEXT_LENGTH" in env:
        return int(env["OLLAMA_CONTEXT_LENGTH"])
    args = container["args"]
    return int(args[args.index("--max-model-len") + 1])


def _pod_labels(workload: dict[str, Any], mode: str) -> dict[str, str]:
    if mode == "kserve":
        return workload["spec"]["predictor"]["labels"]
    return workload["spec"]["template"]["metadata"]["labels"]


def test_a_vllm_model_is_served_from_its_claim_with_its_names_and_a_share_of_memory(helm_binary: Path) -> None:
    rendered = _render(helm_binary, "llm-serving", _values("llm-serving", "vllm-and-moved", "kserve"))

    (coder,) = [
        obj for obj in rendered if obj["metadata"]["name"] == "qwen3-coder" and obj["kind"] == "InferenceService"
    ]
    (container,) = coder["spec"]["predictor"]["containers"]
    assert container["image"].startswith("docker.io/vllm/vllm-openai:")
    args = container["args"]
    assert container["command"] == ["vllm", "serve"]
    assert args[0] == "/models/hf/Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8"
    served = args[args.index("--served-model-name") + 1 : args.index("--max-model-len")]
    assert served == ["qwen3-coder", "coder", "qwen", "qwen-coder-fp8"]
    assert args[args.index("--gpu-memory-utilization") + 1] == "0.25", "80% of 40Gi against 128Gi"
    assert {"name": "HF_HUB_OFFLINE", "value": "1"} in container["env"]


def test_a_tools_alias_is_created_at_start_from_its_modelfile(helm_binary: Path) -> None:
    rendered = _render(helm_binary, "llm-serving", _values("llm-serving", "vllm-and-moved", "plain"))

    (modelfile,) = [obj for obj in rendered if obj["kind"] == "ConfigMap"]
    assert modelfile["metadata"] == {**modelfile["metadata"], "name": "llama3-modelfile", "namespace": "research"}
    assert modelfile["data"]["Modelfile"].startswith("FROM llama3:8b\nPARAMETER num_ctx 16384\nTEMPLATE")
    (llama,) = [obj for obj in rendered if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "llama3"]
    (container,) = llama["spec"]["template"]["spec"]["containers"]
    start = container["lifecycle"]["postStart"]["exec"]["command"][-1]
    assert start.endswith("ollama create llama3-tools -f /etc/ollama/Modelfile")
    assert {"name": "modelfile", "mountPath": "/etc/ollama", "readOnly": True} in container["volumeMounts"]


@pytest.mark.parametrize(("version", "annotation"), [("v0.16.0", "RawDeployment"), ("v0.20.0", "Standard")])
def test_kserve_deployment_mode_follows_kserves_version(helm_binary: Path, version: str, annotation: str) -> None:
    values = serving_values(_catalog("repository")[0], kserve_version=version)

    rendered = _render(helm_binary, "llm-serving", values)

    services = [obj for obj in rendered if obj["kind"] == "InferenceService"]
    assert services
    assert {obj["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] for obj in services} == {annotation}


def test_values_that_break_the_schema_are_refused_by_helm(helm_binary: Path) -> None:
    values = _values("llm-serving", "repository", "kserve")
    del values["models"][0]["memory"]

    with pytest.raises(HelmError, match="memory"):
        _render(helm_binary, "llm-serving", values)


@pytest.mark.parametrize("catalog", list(CATALOGS))
def test_graphrag_objects_match_the_catalog(helm_binary: Path, catalog: str) -> None:
    models = graphrag_models(_catalog(catalog)[0])
    rendered = _render(helm_binary, "graphrag", _values("graphrag", catalog, "plain"))

    deployments = {obj["metadata"]["name"]: obj for obj in rendered if obj["kind"] == "Deployment"}
    for model in models:
        (container,) = deployments[model.name]["spec"]["template"]["spec"]["containers"]
        assert container["resources"]["limits"]["memory"] == model.memory
        assert container["resources"]["limits"].get("nvidia.com/gpu", 0) == model.gpu_slices
    for obj in _pods(rendered):
        for container in obj["containers"]:
            limits = container.get("resources", {}).get("limits", {})
            assert "memory" in limits, f"{container['name']} has no memory limit: time-slicing isolates none"
            assert container.get("readinessProbe") or container.get("livenessProbe"), container["name"]
    claims = [obj for obj in rendered if obj["kind"] == "PersistentVolumeClaim"]
    assert claims
    for claim in claims:
        assert claim["spec"]["storageClassName"] == "longhorn"
        assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    node_ports = {
        port["nodePort"]
        for obj in rendered
        if obj["kind"] == "Service"
        for port in obj["spec"]["ports"]
        if "nodePort" in port
    }
    assert {31800, 31436, 31474, 31490} <= node_ports


def _pods(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        obj["spec"]["template"]["spec"] for obj in rendered if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
    ]


def test_graphrag_orchestrator_reaches_every_model_through_generated_urls(helm_binary: Path) -> None:
    rendered = _render(helm_binary, "graphrag", _values("graphrag", "vllm-and-moved", "plain"))

    (orchestrator,) = [
        obj for obj in rendered if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "orchestrator"
    ]
    (container,) = orchestrator["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}
    urls = json.loads(env["SPARKCTL_MODEL_URLS"]["value"])
    assert urls == {
        "qwen3-coder": "http://qwen3-coder.llm-serving.svc.cluster.local:8000/v1",
        "llama3": "http://llama3.research.svc.cluster.local:11434",
        "qwen3": "http://qwen3.graphrag.svc.cluster.local:11434",
        "nomic-embed-text": "http://nomic-embed-text.graphrag.svc.cluster.local:11434",
        "bge-reranker-v2-m3": "http://bge-reranker-v2-m3.graphrag.svc.cluster.local:8000/v1",
    }
    assert env["SPARKCTL_EMBED_URL"]["value"] == "http://nomic-embed-text.graphrag.svc.cluster.local:11434"


def _lightrag_env(rendered: list[dict[str, Any]]) -> dict[str, str]:
    (lightrag,) = [obj for obj in rendered if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "lightrag"]
    (container,) = lightrag["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item.get("value", "") for item in container["env"]}


def test_graphrag_lightrag_reranks_with_the_catalogs_reranker_and_without_one_does_not(
    helm_binary: Path, tmp_path: Path
) -> None:
    with_reranker = _render(helm_binary, "graphrag", _values("graphrag", "repository", "plain"))
    shipped = CATALOGS["repository"].read_text()
    without = tmp_path / "models.toml"
    without.write_text(shipped[: shipped.index('[[model]]\nrole = "reranker"')])
    values = graphrag_values(load_catalog(without), catalog_text=without.read_text())
    without_reranker = _render(helm_binary, "graphrag", values)

    reranker = "http://bge-reranker-v2-m3.graphrag.svc.cluster.local:8000/v1"
    assert _lightrag_env(with_reranker)["SPARKCTL_RERANK_URL"] == reranker
    assert "SPARKCTL_RERANK_URL" not in _lightrag_env(without_reranker)
    assert "bge-reranker-v2-m3" not in {obj["metadata"]["name"] for obj in without_reranker}


SECRET_NAME = re.compile(r"PASSWORD|API_KEY|SECRET|TOKEN|AUTH", re.IGNORECASE)


@pytest.mark.parametrize(("chart", "catalog", "mode"), CASES, ids=IDS)
def test_no_secret_is_rendered(helm_binary: Path, chart: str, catalog: str, mode: str) -> None:
    rendered = _render(helm_binary, chart, _values(chart, catalog, mode))

    assert not [obj for obj in rendered if obj["kind"] == "Secret"]
    for obj in rendered:
        for container in _containers(obj):
            for item in container.get("env", []):
                if SECRET_NAME.search(item["name"]) and "value" in item:
                    assert "$(" in item["value"], f"{item['name']} holds a literal value in {obj['metadata']['name']}"


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    if obj["kind"] == "InferenceService":
        pod = obj["spec"]["predictor"]
    elif obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        pod = obj["spec"]["template"]["spec"]
    else:
        return []
    return [*pod.get("initContainers", []), *pod["containers"]]


def test_graphrag_without_sparkctls_values_says_where_they_come_from(helm_binary: Path) -> None:
    with pytest.raises(HelmError, match="sparkctl"):
        _render(helm_binary, "graphrag", {})


@pytest.mark.parametrize("catalog", list(CATALOGS))
def test_every_graphrag_service_is_scraped_by_prometheus_on_a_port_it_declares(helm_binary: Path, catalog: str) -> None:
    rendered = _render(helm_binary, "graphrag", _values("graphrag", catalog, "plain"))

    deployments = {obj["metadata"]["name"]: obj for obj in rendered if obj["kind"] == "Deployment"}
    for name in ("orchestrator", "lightrag", "preprocessor", "worker"):
        pod = deployments[name]["spec"]["template"]
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/path"] == "/metrics", name
        (container,) = pod["spec"]["containers"]
        declared = {port["containerPort"] for port in container.get("ports", [])}
        assert int(annotations["prometheus.io/port"]) in declared, name
    worker = deployments["worker"]["spec"]["template"]
    env = {item["name"]: item.get("value") for item in worker["spec"]["containers"][0]["env"]}
    assert env["SPARKCTL_METRICS_PORT"] == worker["metadata"]["annotations"]["prometheus.io/port"]
