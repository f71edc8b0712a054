"""`cluster up` plans from host fixtures, pyinfra style: facts in, exact actions and files out.

Each file in tests/fixtures/cluster/plans/ is one test: a host (tests/fixtures/cluster/hosts/), the
settings, and for every step its state, why it is done or refused, the actions it renders and the
files it writes. No Spark and no Kubernetes API are here: facts come from the fixtures, and a step
that reads a fact its fixture does not give fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sparkctl.cluster.actions import WriteFile
from sparkctl.cluster.plan import make_plan
from sparkctl.cluster.steps import STEP_TYPES, cluster_steps
from support.cluster import FIXTURES, FixtureFacts, MissingFact, load_host, settings_from

PLANS = sorted((FIXTURES / "plans").glob("*.json"))


def _plan_for(case: dict[str, Any]) -> tuple[Any, FixtureFacts]:
    facts = FixtureFacts({**load_host(case["host"]), **case.get("facts", {})})
    return make_plan(cluster_steps(settings_from(case["settings"])), facts), facts


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
