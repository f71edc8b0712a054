"""Global options work before and after the command, like kubectl's and helm's."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

import sparkctl.cli.app as cli_app
from sparkctl import __version__
from sparkctl.cli.app import app
from sparkctl.cli.context import AppContext, OutputFormat, app_context

runner = CliRunner()

SHIPPED_MODELS = Path(__file__).parents[2] / "models.toml"

GLOBAL_OPTIONS = [
    (["--host", "root@spark"], "host_spec", "root@spark"),
    (["--identity", "/keys/spark"], "identity", Path("/keys/spark")),
    (["-i", "/keys/spark"], "identity", Path("/keys/spark")),
    (["--kubeconfig", "/kube/spark.yaml"], "kubeconfig", Path("/kube/spark.yaml")),
    (["--config", "/etc/sparkctl.toml"], "config_path", Path("/etc/sparkctl.toml")),
    (["--output", "json"], "output", OutputFormat.json),
    (["-o", "json"], "output", OutputFormat.json),
    (["--verbose"], "verbose", True),
    (["-v"], "verbose", True),
]

# A command path and the command's own arguments.
COMMANDS = [
    (["models", "list"], ["--models", str(SHIPPED_MODELS)]),
    (["doctor"], []),
]


@pytest.fixture
def contexts(monkeypatch: pytest.MonkeyPatch) -> list[AppContext]:
    """Every AppContext the root callback makes during the test, in order."""
    made: list[AppContext] = []

    @dataclass
    class Recorded(AppContext):
        def __post_init__(self) -> None:
            made.append(self)

    monkeypatch.setattr(cli_app, "AppContext", Recorded)
    return made


def app_with_probe(probe: Callable[..., None]) -> typer.Typer:
    """A copy of sparkctl's app with one more command, `probe`; the real app is left as it is."""
    probing = copy.copy(app)
    probing.registered_commands = [*app.registered_commands]
    probing.command(name="probe")(probe)
    return probing


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[0]))
@pytest.mark.parametrize(("option", "field", "value"), GLOBAL_OPTIONS, ids=[" ".join(o) for o, _, _ in GLOBAL_OPTIONS])
def test_a_global_option_means_the_same_before_and_after_the_command(
    contexts: list[AppContext], command: tuple[list[str], list[str]], option: list[str], field: str, value: Any
) -> None:
    path, own = command
    positions = {
        "before the command": [*option, *path, *own],
        "after the command": [*path, *option, *own],
        "after the command's options": [*path, *own, *option],
    }
    for where, args in positions.items():
        result = runner.invoke(app, args)
        assert "No such option" not in result.output, f"{where}: {result.output}"
    assert [getattr(context, field) for context in contexts] == [value] * len(positions)


def test_output_json_after_a_nested_command_prints_the_same_json_as_before_it() -> None:
    before = runner.invoke(app, ["-o", "json", "models", "list", "--models", str(SHIPPED_MODELS)])
    after = runner.invoke(app, ["models", "list", "-o", "json", "--models", str(SHIPPED_MODELS)])
    between = runner.invoke(app, ["models", "--output", "json", "list", "--models", str(SHIPPED_MODELS)])
    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout) == json.loads(before.stdout) == json.loads(between.stdout)


@pytest.mark.parametrize("args", [["version", "--output", "json"], ["version", "-ojson"], ["version", "--output=json"]])
def test_version_prints_json_whatever_the_spelling_of_output_after_it(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"version": __version__}


def test_a_cluster_of_global_short_options_after_the_command_is_read_like_click(contexts: list[AppContext]) -> None:
    runner.invoke(app, ["doctor", "-vojson"])
    assert [(context.verbose, context.output) for context in contexts] == [(True, OutputFormat.json)]


def test_verbose_after_the_command_adds_the_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "models.toml"
    broken.write_text("not toml [")
    result = runner.invoke(app, ["models", "list", "--models", str(broken), "-v"])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


@pytest.mark.parametrize(
    ("args", "output"),
    [
        (["-o", "json", "version", "-o", "text"], OutputFormat.text),
        (["-o", "text", "version", "-o", "json"], OutputFormat.json),
        (["version", "-o", "json", "--output", "text"], OutputFormat.text),
    ],
    ids=["text after json", "json after text", "twice after the command"],
)
def test_an_option_given_twice_takes_the_later_value(
    contexts: list[AppContext], args: list[str], output: OutputFormat
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [context.output for context in contexts] == [output]


def test_the_help_says_global_options_go_before_or_after_the_command() -> None:
    help_text = " ".join(runner.invoke(app, ["--help"]).stdout.split())
    assert "Global options go before or after the command; given twice, the later one wins." in help_text


def test_nothing_after_a_double_dash_moves() -> None:
    seen: dict[str, Any] = {}

    def probe(ctx: typer.Context, words: Annotated[list[str] | None, typer.Argument()] = None) -> None:
        seen.update(context=app_context(ctx), words=words)

    result = runner.invoke(app_with_probe(probe), ["probe", "-v", "--", "-o", "json", "--host", "h"])
    assert result.exit_code == 0, result.output
    assert seen["words"] == ["-o", "json", "--host", "h"]
    assert seen["context"].verbose is True
    assert seen["context"].output is OutputFormat.text
    assert seen["context"].host_spec is None


@pytest.mark.parametrize(
    "args",
    [
        ["probe", "-m", "--host", "-v"],
        ["probe", "--message", "--host", "-v"],
        ["probe", "-v", "--message=--host"],
        ["probe", "-m--host", "-v"],
    ],
)
def test_a_command_option_value_that_looks_like_a_global_option_stays_the_value(args: list[str]) -> None:
    seen: dict[str, Any] = {}

    def probe(ctx: typer.Context, message: Annotated[str | None, typer.Option("--message", "-m")] = None) -> None:
        seen.update(context=app_context(ctx), message=message)

    result = runner.invoke(app_with_probe(probe), args)
    assert result.exit_code == 0, result.output
    assert seen["message"] == "--host"
    assert seen["context"].host_spec is None
    assert seen["context"].verbose is True


def test_chat_keeps_a_message_that_looks_like_a_global_option(contexts: list[AppContext]) -> None:
    result = runner.invoke(app, ["chat", "-m", "--host", "-o", "json", "--help"])
    assert result.exit_code == 0, result.output
    assert [(context.host_spec, context.output) for context in contexts] == [(None, OutputFormat.json)]


def test_a_command_option_with_a_global_option_name_belongs_to_the_command() -> None:
    seen: dict[str, Any] = {}

    def probe(
        ctx: typer.Context,
        verbatim: Annotated[bool, typer.Option("--verbatim", "-v")] = False,
        detach: Annotated[bool, typer.Option("--detach", "-d")] = False,
    ) -> None:
        seen.update(context=app_context(ctx), verbatim=verbatim, detach=detach)

    result = runner.invoke(app_with_probe(probe), ["probe", "-v", "-do", "json"])
    assert result.exit_code == 0, result.output
    assert (seen["verbatim"], seen["detach"]) == (True, True)
    assert seen["context"].verbose is False
    assert seen["context"].output is OutputFormat.json


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "list", "-o", "json", "--bogus"], "No such option: --bogus"),
        (["version", "-vx"], "No such option: -x"),
        (["version", "--output=json", "--outptu", "text"], "No such option: --outptu"),
    ],
)
def test_unknown_options_after_global_ones_still_fail_with_clicks_message(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert f"Error: {message}" in result.stderr


def test_a_global_option_without_its_value_after_the_command_says_so() -> None:
    result = runner.invoke(app, ["version", "-o"])
    assert result.exit_code == 2
    assert "Error: Option '-o' requires an argument." in result.stderr
