"""Cluster steps under test: facts from fixture files, and a fake host that fails on anything not scripted.

No Spark is here: a host's facts are JSON files (values as the fact parsers return them, the parsers
being tested on captured real output in test_cluster_facts.py), and a step is judged by the exact
actions it renders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from sparkctl.cluster.facts import Fact
from sparkctl.cluster.steps import Settings

T = TypeVar("T")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cluster"


class MissingFact(AssertionError):
    """A step read a fact that the fixture does not give: the fixture must say what the host holds."""


class FixtureFacts:
    """Facts from a fixture, by key; a fact the fixture lacks fails the test instead of guessing."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.read: set[str] = set()

    def get(self, fact: Fact[T]) -> T:
        if fact.key not in self.values:
            raise MissingFact(f"the fixture gives no fact {fact.key}")
        self.read.add(fact.key)
        return self.values[fact.key]  # type: ignore[no-any-return]

    def refresh(self) -> None:
        """Fixture facts do not change by themselves."""


class SequenceFacts(FixtureFacts):
    """Facts that change as a run goes on: each refresh() moves to the next set (the last one stays)."""

    def __init__(self, *states: dict[str, Any]) -> None:
        super().__init__(states[0])
        self.states = list(states)
        self.refreshes = 0

    def refresh(self) -> None:
        self.refreshes += 1
        self.values = self.states[min(self.refreshes, len(self.states)) - 1]


class StrictHost:
    """A host that records what it is asked to do, and fails on anything it was not told to expect."""

    name = "spark-7f3a"

    def __init__(self, allow: bool = False) -> None:
        self.allow = allow
        self.calls: list[tuple[str, Any]] = []

    def run(self, command: Any, **options: Any) -> Any:
        self.calls.append(("run", command))
        if not self.allow:
            raise AssertionError(f"unexpected command on the host: {command}")
        return None

    def put(self, path: str, data: bytes, **options: Any) -> None:
        self.calls.append(("put", (path, data.decode())))
        if not self.allow:
            raise AssertionError(f"unexpected write on the host: {path}")


def load_host(name: str) -> dict[str, Any]:
    """A host's facts: hosts/NAME.json, on top of the host it `extends`, with `remove` keys taken out."""
    data = json.loads((FIXTURES / "hosts" / f"{name}.json").read_text())
    facts: dict[str, Any] = load_host(data["extends"]) if "extends" in data else {}
    for key in data.get("remove", []):
        facts.pop(key, None)
    facts.update(data.get("facts", {}))
    return facts


def settings_from(data: dict[str, Any]) -> Settings:
    """Settings for a fixture: fixed paths on an imagined laptop, plus what the fixture sets."""
    values: dict[str, Any] = {
        "kubeconfig": Path("/home/me/.kube/sparkctl-spark.yaml" if data.get("remote") else "/home/me/.kube/config"),
        "helm_dir": Path("/home/me/.local/share/sparkctl/bin"),
    }
    values.update(data)
    for key in ("kubeconfig", "helm_dir"):
        values[key] = Path(values[key])
    return Settings(**values)
