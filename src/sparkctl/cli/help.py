"""How sparkctl's help spells positional arguments: `PATH...` and `[NAME]`, as click and most CLIs do.

Typer (0.28 and newer) writes a required argument as `{paths}...` in the usage line and adds a Python type such as
`<list[Path]>` beside it in the arguments list: neither is something to type. `SparkTyper` makes every command's
arguments `PlainArgument`s, which show the metavar (or the upper-cased name) and nothing of Python's types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand


class PlainArgument(TyperArgument):
    """A positional argument shown by its metavar: `PATH...` when it takes many, `[NAME]` when it is optional."""

    def _plain_name(self) -> str:
        name = self.metavar or (self.name or "").upper()
        return name if self.nargs == 1 or name.endswith("...") else f"{name}..."

    def _usage_display_name(self) -> str:
        name = self._plain_name()
        return name if self.required else f"[{name}]"

    def _rich_display_name(self) -> str:
        return self._plain_name()

    def display_type_rich(self, ctx: typer.Context) -> str | None:
        return None


class PlainArgumentsCommand(TyperCommand):
    """A command whose positional arguments are `PlainArgument`s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, TyperArgument):
                param.__class__ = PlainArgument


class SparkTyper(typer.Typer):
    """typer.Typer whose commands spell their arguments plainly (see the module docstring)."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:  # type: ignore[override]
        kwargs.setdefault("cls", PlainArgumentsCommand)
        return super().command(*args, **kwargs)
