"""Kubernetes resource quantities ("16Gi", "512Mi", "1.5G") as exact numbers."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}

_QUANTITY = re.compile(r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))(?P<suffix>[eE][+-]?\d+|[KMGTPE]i|[mkMGTPE])?$")


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity; ValueError when `text` is not one."""
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (for example 16Gi or 512Mi)")
    number, suffix = match["number"], match["suffix"] or ""
    try:
        if suffix[:1] in ("e", "E"):
            return Decimal(number + suffix)
        return Decimal(number) * _SUFFIXES[suffix]
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from exc


def format_bytes(value: Decimal | int) -> str:
    """A byte count in binary units, as a person reads it: 54Gi, 1.5Gi, 512Mi."""
    amount = Decimal(value)
    for unit in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        size = _SUFFIXES[unit]
        if amount >= size:
            scaled = (amount / size).quantize(Decimal("0.01")).normalize()
            return f"{scaled:f}{unit}"
    return f"{int(amount)}"
