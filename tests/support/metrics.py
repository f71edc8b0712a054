"""Reading a Prometheus exposition in tests, through prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def samples(text: str, name: str) -> list[Sample]:
    """Every sample called `name` (a counter's `…_total`, a histogram's `…_count`, a gauge's own name)."""
    return [
        sample for family in text_string_to_metric_families(text) for sample in family.samples if sample.name == name
    ]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`; 0.0 when there is none."""
    return sum(sample.value for sample in samples(text, name) if labels.items() <= sample.labels.items())


def by_label(text: str, name: str, label: str, **labels: str) -> dict[str, float]:
    """Samples called `name` matching `labels`, summed by the value of `label`."""
    found: dict[str, float] = {}
    for sample in samples(text, name):
        if labels.items() <= sample.labels.items():
            key = sample.labels[label]
            found[key] = found.get(key, 0.0) + sample.value
    return found
