"""`cluster up`, `down` and `join` plans from host fixtures, pyinfra style: facts in, exact actions and files out.

Each file in tests/fixtures/cluster/plans/ is one test: the command (`up` unless it says), a host
(tests/fixtures/cluster/hosts/), the settings, and for every step its state, why it is done or refused,
the actions it renders and the files it writes. No Spark and no Kubernetes API are here: facts come from
the fixtures, and a step that reads a fact its fixture does not give fails. For `join`, the host is the
worker, and its fixture also holds what the control plane's API says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sparkctl.cluster.actions import WriteFile
from sparkctl.cluster.plan import make_plan
from sparkctl.cluster.steps import STEP_TYPES, Step, cluster_steps, join_steps, teardown_steps
from support.cluster import FIXTURES, FixtureFacts, MissingFact, StrictHost, load_host, settings_from

PLANS = sorted((FIXTURES / "plans").glob("*.json"))


def steps_for(case: dict[str, Any]) -> list[Step]:
    settings = settings_from(case["settings"])
    command = case.get("command", "up")
    if command == "down":
        return teardown_steps(settings)
    if command == "join":
        return join_steps(settings, StrictHost())
    return cluster_steps(settings)


def _plan_for(case: dict[str, Any]) -> tuple[Any, FixtureFacts]:
    facts = FixtureFacts({**load_host(case["host"]), **case.get("facts", {})})
    return make_plan(steps_for(case), facts), facts


@pytest.mark.parametrize("path", PLANS, ids=[path.stem for path in PLANS])
def test_plan_matches_fixture(path: Path) -> None:
    case = json.loads(path.read_text())
    plan, _ = _plan_for(case)

    assert {planned.step.name: planned.check.state for planned in plan.steps} == case["steps"]
    reasons = {
        planned.step.name: planned.check.reason for planned in plan.steps if planned.check.state in ("done", "refused")
    }
    assert reasons == case["reasons"]
    actions = {planned.step.name: [action.render() for action in planned.actions] for planned in plan.steps}
    assert {name: rendered for name, rendered in actions.items() if rendered} == case["actions"]
    written = {
        action.path: action.content
        for planned in plan.steps
        for action in planned.actions
        if isinstance(action, WriteFile)
    }
    assert written == case["files"]


def test_every_step_appears_in_the_fresh_host_plan() -> None:
    case = json.loads((FIXTURES / "plans" / "fresh-ubuntu-24.04.json").read_text())
    plan, _ = _plan_for(case)

    assert [planned.step.number for planned in plan.steps] == list(range(1, 12))
    assert [planned.step.name for planned in plan.to_do] == [step.name for step in STEP_TYPES[1:]]
    assert all(planned.actions for planned in plan.to_do)


def test_healthy_cluster_plan_is_empty_with_a_reason_for_every_step() -> None:
    plan, _ = _plan_for({"host": "healthy-cluster", "settings": {}})

    assert plan.nothing_to_do
    assert plan.to_do == ()
    assert all(planned.check.reason for planned in plan.steps)


def test_a_step_reading_a_fact_the_fixture_lacks_fails() -> None:
    facts = load_host("healthy-cluster")
    del facts["Swaps"]

    with pytest.raises(MissingFact, match="Swaps"):
        make_plan(cluster_steps(settings_from({})), FixtureFacts(facts))


def test_unhealthy_cluster_is_refused_with_what_to_do_and_no_reset() -> None:
    plan, _ = _plan_for({"host": "unhealthy-cluster", "settings": {}})

    assert plan.refused is not None
    assert plan.refused.step.name == "kubeadm-init"
    assert "--reset" in plan.refused.check.hint
    rendered = [action.render() for planned in plan.steps for action in planned.actions]
    assert not any("kubeadm reset" in line for line in rendered)


def test_gpu_operator_older_than_25_10_is_refused() -> None:
    plan, _ = _plan_for({"host": "fresh-dgx-os", "settings": {"gpu_operator_version": "v24.9.2"}})

    assert plan.refused is not None
    assert plan.refused.step.name == "gpu-operator"
    assert "v25.10.0" in plan.refused.check.hint


def _down_cases() -> list[dict[str, Any]]:
    cases = [json.loads(path.read_text()) for path in PLANS]
    return [case for case in cases if case.get("command") == "down"]


def test_down_uninstalls_workloads_then_the_gpu_operator_then_longhorn_last() -> None:
    plan, _ = _plan_for({"command": "down", "host": "serving-cluster", "settings": {"purge": True}})

    releases = [action.render() for action in plan.steps[0].actions]
    assert [line.split()[2] for line in releases if line.startswith("helm uninstall")] == [
        "graphrag",
        "llm-serving",
        "gpu-operator",
        "longhorn",
    ]
    assert "deleting-confirmation-flag=true" in releases[-2]


def test_down_without_purge_never_touches_longhorn_or_its_data() -> None:
    cases = [case for case in _down_cases() if not case["settings"].get("purge")]

    assert len(cases) >= 5
    for case in cases:
        plan, _ = _plan_for(case)
        rendered = [action.render() for planned in plan.steps for action in planned.actions]
        assert not [line for line in rendered if "longhorn" in line], case["description"]


def test_down_keeps_containerd_and_the_nvidia_runtime() -> None:
    for case in _down_cases():
        plan, _ = _plan_for(case)
        rendered = " ".join(action.render() for planned in plan.steps for action in planned.actions)
        for kept in ("containerd", "nvidia-container", "nvidia-ctk", "/opt/cni", "modules-load", "sysctl"):
            assert kept not in rendered, (case["description"], kept)


def test_join_plan_masks_the_token_and_names_the_control_plane() -> None:
    plan, _ = _plan_for({"command": "join", "host": "worker-fresh-dgx-os", "settings": {"remote": "spark-7f3a"}})

    (join,) = [planned for planned in plan.steps if planned.step.name == "kubeadm-join"]
    rendered = join.actions[0].render()
    assert rendered.startswith("on spark-7f3a: kubeadm token create --ttl 15m --print-join-command;")
    assert "--token ********" in rendered
    assert "--node-name spark-b2c4" in rendered
