"""Kubernetes quantities as numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sparkctl.quantity import format_bytes, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("16Gi", 16 * 2**30),
        ("512Mi", 512 * 2**20),
        ("1.5G", 1_500_000_000),
        ("100m", Decimal("0.1")),
        ("1e3", 1000),
        ("7", 7),
        ("0.5Ki", 512),
    ],
)
def test_quantities_parse_to_exact_values(text: str, value: int | Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "Gi", "16GB", "16 Gi", "1.2.3", "sixteen"])
def test_non_quantities_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("value", "text"), [(54 * 2**30, "54Gi"), (1536 * 2**20, "1.5Gi"), (512 * 2**20, "512Mi"), (10, "10")]
)
def test_byte_counts_format_in_binary_units(value: int, text: str) -> None:
    assert format_bytes(value) == text
