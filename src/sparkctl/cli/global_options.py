"""Global options after the command, as kubectl and helm accept them: moved in front before click parses."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import typer
from typer.core import TyperGroup, TyperOption


def hoist_global_options(root: TyperGroup, ctx: typer.Context, args: list[str]) -> list[str]:
    """The arguments with every global option found after the command path moved in front of it.

    `sparkctl models list -o json` becomes `sparkctl -o json models list`. The walk follows click's own
    parser: it reads each command's options to know which tokens are values (`chat -m --host` keeps
    `--host` as the message), a command's own option wins over a global one of the same name, and
    nothing after a literal `--` moves. Hoisted options go after those already in front, in the order
    given, so when an option comes twice the later one wins. Anything it does not recognise stays where
    it is, for click to report as usual.
    """
    global_arity = _option_arity(root.params)
    in_front: list[str] = []
    hoisted: list[str] = []
    after: list[str] = []
    kept = in_front
    command: Any = root
    own_arity = _option_arity(root.get_params(ctx))
    tokens = deque(args)
    while tokens:
        token = tokens.popleft()
        if token == "--":
            kept.append(token)
            break
        if token.startswith("-") and len(token) > 1:
            moves = global_arity if command is not root else {}
            _place_option(token, tokens, own_arity, moves, kept, hoisted, ctx)
            continue
        kept = after  # a positional: the command path has begun, so what follows stays behind the hoisted
        kept.append(token)
        if isinstance(command, TyperGroup):
            command = command.get_command(ctx, token)
            if command is None:
                break
            own_arity = _option_arity(command.get_params(ctx))
        elif not command.context_settings.get("allow_interspersed_args", command.allow_interspersed_args):
            break
    kept.extend(tokens)
    return [*in_front, *hoisted, *after]


def _option_arity(params: Iterable[Any]) -> dict[str, int]:
    """Every name of these options, with how many values it takes (0 for a flag)."""
    arity: dict[str, int] = {}
    for param in params:
        if isinstance(param, TyperOption):
            takes = 0 if param.is_flag or param.count else param.nargs
            arity.update(dict.fromkeys([*param.opts, *param.secondary_opts], takes))
    return arity


def _place_option(
    token: str,
    tokens: deque[str],
    own: dict[str, int],
    moves: dict[str, int],
    kept: list[str],
    hoisted: list[str],
    ctx: typer.Context,
) -> None:
    """Put one option token and its values in `kept` (the command's own, or unknown) or `hoisted` (global).

    Mirrors click's parser: a long name (`--output`, `--output=json`) first, then a cluster of short ones
    (`-v`, `-ojson`, `-vo json`), split between the two lists when it mixes both kinds.
    """
    name, equals, _ = token.partition("=")
    if _is_long(name) and (name in own or name in moves):
        target, arity = (kept, own[name]) if name in own else (hoisted, moves[name])
        target.append(token)
        _take_values(name, max(arity - len(equals), 0), tokens, target, ctx, required=target is hoisted)
        return
    if token.startswith("--"):
        kept.append(token)  # an unknown long option: click says so
        return
    prefix, letters = token[0], token[1:]
    pieces: list[tuple[list[str], str, str, int]] = []
    for index, letter in enumerate(letters):
        name = prefix + letter
        if name not in own and name not in moves:
            pieces.append((kept, name, prefix + letters[index:], 0))  # click reports the unknown letter
            break
        target, arity = (kept, own[name]) if name in own else (hoisted, moves[name])
        rest = letters[index + 1 :]
        pieces.append((target, name, name + rest if arity else name, arity - 1 if arity and rest else arity))
        if arity:
            break
    if all(target is kept for target, *_ in pieces):
        pieces = [(kept, pieces[-1][1], token, pieces[-1][3])]
    for target, name, piece, values in pieces:
        target.append(piece)
        _take_values(name, values, tokens, target, ctx, required=target is hoisted)


def _take_values(
    name: str, count: int, tokens: deque[str], target: list[str], ctx: typer.Context, *, required: bool
) -> None:
    """Move the `count` values that follow an option, whatever they look like, as click's parser does.

    A hoisted option without its values fails here with click's message: in front of the command path
    it would take the command's name as its value.
    """
    if required and count > len(tokens):
        ctx.fail(f"Option {name!r} requires {'an argument' if count == 1 else f'{count} arguments'}.")
    for _ in range(min(count, len(tokens))):
        target.append(tokens.popleft())


def _is_long(name: str) -> bool:
    """What click's parser treats as a long option: `--output`, or `-foo` with one dash and several letters."""
    return name.startswith("--") or len(name) > 2
