"""The memory budget of a deploy: every pod's memory limit, from both charts' generated values, plus what the
system keeps, against the unified memory the GPU and the host share.

Time-slicing isolates no memory, so these limits are all that keeps one model from starving the others; a
sum over the unified memory would end in the kernel's OOM killer, not in a scheduling error.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sparkctl.catalog import Catalog
from sparkctl.errors import SparkctlError
from sparkctl.quantity import parse_quantity

GiB = Decimal(2**30)


@dataclass(frozen=True)
class Consumer:
    name: str
    kind: str
    """model, service or system."""
    memory: Decimal
    source: str
    """Where its limit is set: what a person edits to lower it."""


@dataclass(frozen=True)
class MemoryBudget:
    consumers: tuple[Consumer, ...]
    unified_memory: Decimal

    @property
    def total(self) -> Decimal:
        return sum((consumer.memory for consumer in self.consumers), Decimal(0))

    @property
    def fits(self) -> bool:
        return self.total <= self.unified_memory

    def biggest(self, count: int = 5) -> list[Consumer]:
        return sorted(self.consumers, key=lambda consumer: (-consumer.memory, consumer.name))[:count]


class OverBudget(SparkctlError):
    """The memory limits of what would run add up to more than the unified memory."""

    def __init__(self, budget: MemoryBudget) -> None:
        over = budget.total - budget.unified_memory
        biggest = ", ".join(f"{c.name} {gib(c.memory)}" for c in budget.biggest(3))
        super().__init__(
            f"the memory limits add up to {gib(budget.total)}, {gib(over)} over the {gib(budget.unified_memory)} "
            f"of unified memory (biggest: {biggest})",
            hint="Lower a model's memory (and its context) in models.toml, or remove a model; --force deploys "
            "anyway, and the kernel's OOM killer then decides which model dies.",
        )
        self.budget = budget


def gib(value: Decimal) -> str:
    return f"{(value / GiB).quantize(Decimal('0.1')).normalize():f} GiB"


def memory_budget(catalog: Catalog, serving: dict[str, Any], graphrag: dict[str, Any]) -> MemoryBudget:
    """Both charts' pods (from their generated values) and [platform].system_reserved."""
    consumers = [
        Consumer(model["name"], "model", parse_quantity(model["memory"]), f"models.toml: {model['name']}.memory")
        for model in (*serving["models"], *graphrag["models"])
    ]
    consumers += [
        Consumer(name, "service", parse_quantity(component["memory"]), "sparkctl/deploy/values.py: COMPONENTS")
        for name, component in graphrag["components"].items()
    ]
    reserved = parse_quantity(catalog.platform.system_reserved)
    consumers.append(Consumer("system", "system", reserved, "models.toml: [platform].system_reserved"))
    return MemoryBudget(tuple(consumers), parse_quantity(catalog.platform.unified_memory))


def check_budget(budget: MemoryBudget, *, force: bool) -> None:
    if not budget.fits and not force:
        raise OverBudget(budget)
