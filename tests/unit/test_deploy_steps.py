"""`serve deploy` planned from cluster facts: what each step finds and would do. The facts are written here (no
API server, no helm): releases, their values, the models' claims and pods, as the fact readers return them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from sparkctl.catalog import load_catalog
from sparkctl.cluster.plan import make_plan
from sparkctl.deploy.releases import KSERVE_VERSION
from sparkctl.deploy.steps import ServingDeploy, serving_steps
from support.cluster import FixtureFacts

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "models.toml")
SERVED = {"qwen3-coder-next": "qwen3-coder-next:q4_K_M", "deepseek-r1": "deepseek-r1:32b"}


def _release(name: str, chart: str, version: str, namespace: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "chart": chart,
        "chart_version": version,
        "app_version": version,
        "status": "deployed",
        "revision": 1,
    }


def _claim(model: str, pulled: str | None) -> dict[str, Any]:
    annotations = {"sparkctl.dev/pulled": pulled} if pulled else {}
    return {"metadata": {"name": f"{model}-models", "namespace": "llm-serving", "annotations": annotations}}


def _pods(ready: bool) -> list[dict[str, Any]]:
    return [{"name": "x-0", "phase": "Running", "ready": ready, "reason": "" if ready else "readiness probe failed"}]


def _facts(*, pulled: bool = True, installed: bool = True, ready: bool = True, mode: str = "kserve") -> dict[str, Any]:
    deploy = ServingDeploy(CATALOG, mode=mode)  # type: ignore[arg-type]
    releases = {}
    if installed:
        releases = {
            "cert-manager": _release("cert-manager", "cert-manager", "v1.17.0", "cert-manager"),
            "kserve-crd": _release("kserve-crd", "kserve-crd", KSERVE_VERSION, "kserve"),
            "kserve-resources": _release("kserve-resources", "kserve-resources", KSERVE_VERSION, "kserve"),
            "llm-serving": _release("llm-serving", "llm-serving", "0.1.0", "llm-serving"),
        }
    facts: dict[str, Any] = {
        "HelmReleases": releases,
        "ReleaseValues(llm-serving, llm-serving)": copy.deepcopy(deploy.chart_release(KSERVE_VERSION).values)
        if installed
        else None,
    }
    for model, ref in SERVED.items():
        facts[f"KubeObject(PersistentVolumeClaim, llm-serving, {model}-models)"] = _claim(
            model, ref if pulled else None
        )
        selector = f"app.kubernetes.io/component=model-server,app.kubernetes.io/name={model}"
        facts[f"Pods(llm-serving, {selector})"] = _pods(ready) if installed else []
    return facts


def _plan(facts: dict[str, Any], mode: str = "kserve") -> Any:
    return make_plan(serving_steps(ServingDeploy(CATALOG, mode=mode)), FixtureFacts(facts))  # type: ignore[arg-type]


def test_everything_served_as_models_toml_says_is_nothing_to_do() -> None:
    plan = _plan(_facts())

    assert plan.nothing_to_do
    assert [p.check.reason for p in plan.steps] == [
        "2 model(s) pulled",
        "cert-manager v1.17.0",
        "KServe v0.20.0 (the InferenceServices are made for it)",
        "llm-serving as models.toml says (models qwen3-coder-next, deepseek-r1)",
        "2 workload(s) ready",
    ]


def test_a_fresh_cluster_gets_cert_manager_kserve_the_release_and_a_wait_for_each_model() -> None:
    plan = _plan(_facts(installed=False))

    assert [(p.step.name, p.check.state) for p in plan.steps] == [
        ("weights", "done"),
        ("cert-manager", "missing"),
        ("kserve", "missing"),
        ("release", "missing"),
        ("ready", "missing"),
    ]
    rendered = {p.step.name: [action.render() for action in p.actions] for p in plan.to_do}
    assert rendered["cert-manager"] == [
        "helm upgrade --install cert-manager cert-manager --repo https://charts.jetstack.io --version v1.17.0 "
        "--namespace cert-manager --create-namespace --wait --set crds.enabled=true"
    ]
    assert rendered["kserve"] == [
        "helm upgrade --install kserve-crd oci://ghcr.io/kserve/charts/kserve-crd --version v0.20.0 --namespace kserve "
        "--create-namespace --wait",
        "helm upgrade --install kserve-resources oci://ghcr.io/kserve/charts/kserve-resources --version v0.20.0 "
        "--namespace kserve --create-namespace --wait --set kserve.version=v0.20.0 "
        "--set kserve.controller.deploymentMode=Standard --set kserve.controller.gateway.disableIngressCreation=true",
    ]
    assert rendered["release"][0].endswith(
        "--namespace llm-serving --create-namespace (kserve mode, models qwen3-coder-next, deepseek-r1)"
    )
    assert rendered["ready"] == [
        "kubernetes: wait until qwen3-coder-next in llm-serving is ready (timeout 1800 s)",
        "kubernetes: wait until deepseek-r1 in llm-serving is ready (timeout 1800 s)",
    ]


def test_weights_not_pulled_are_refused_with_the_pull_to_run() -> None:
    plan = _plan(_facts(pulled=False))

    assert plan.refused is not None
    assert plan.refused.check.reason == "not pulled yet: qwen3-coder-next, deepseek-r1"
    assert "sparkctl models pull qwen3-coder-next deepseek-r1" in plan.refused.check.hint


def test_a_changed_model_is_drift_named_by_what_changed() -> None:
    facts = _facts()
    facts["ReleaseValues(llm-serving, llm-serving)"]["models"][1]["memory"] = "24Gi"

    plan = _plan(facts)

    (drifted,) = plan.to_do
    assert drifted.step.name == "release"
    assert drifted.check.reason == "values differ from models.toml: models.deepseek-r1.memory: 24Gi → 28Gi"


def test_an_older_kserve_installed_is_kept_and_picks_the_old_annotation() -> None:
    facts = _facts()
    facts["HelmReleases"]["kserve-resources"]["chart_version"] = "v0.16.0"

    plan = _plan(facts)

    reasons = {p.step.name: p.check for p in plan.steps}
    assert reasons["kserve"].reason == "KServe v0.16.0 (the InferenceServices are made for it)"
    assert reasons["release"].state == "drifted"
    assert "kserve.deploymentMode: Standard → RawDeployment" in reasons["release"].reason


def test_plain_mode_needs_no_kserve() -> None:
    facts = _facts(installed=False, mode="plain")

    plan = _plan(facts, mode="plain")

    states = {p.step.name: p.check.state for p in plan.steps}
    assert states == {
        "weights": "done",
        "cert-manager": "done",
        "kserve": "done",
        "release": "missing",
        "ready": "missing",
    }


def test_a_server_not_ready_is_waited_for_with_its_reason() -> None:
    plan = _plan(_facts(ready=False))

    (waiting,) = plan.to_do
    assert waiting.check.reason.startswith("qwen3-coder-next: Running readiness probe failed; deepseek-r1:")
