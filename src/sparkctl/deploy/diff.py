"""What changes between the values a release was installed with and the values sparkctl would give it now."""

from __future__ import annotations

from typing import Any

MAX_SHOWN = 60


def values_diff(old: Any, new: Any, path: str = "") -> list[str]:
    """One line per changed leaf: `path: old → new`, `path: added`, `path: removed`. Lists of objects with a
    `name` are compared by name (a model moved in the list is not a change)."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in old:
                lines.append(f"{where}: added")
            elif key not in new:
                lines.append(f"{where}: removed")
            else:
                lines += values_diff(old[key], new[key], where)
        return lines
    if _named_list(old) and _named_list(new):
        return values_diff({item["name"]: item for item in old}, {item["name"]: item for item in new}, path)
    if old != new:
        return [f"{path}: {_short(old)} → {_short(new)}"]
    return []


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) and "name" in item for item in value)


def _short(value: Any) -> str:
    text = str(value)
    first_line = text.splitlines()[0] if text else text
    shown = first_line if len(first_line) <= MAX_SHOWN else first_line[: MAX_SHOWN - 1] + "…"
    return shown + (" …" if "\n" in text and shown == first_line else "")
