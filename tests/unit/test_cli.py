"""The command tree, global options, output formats and the error edge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sparkctl.cli.app import app

runner = CliRunner()

COMMANDS = [
    [],
    ["version"],
    ["doctor"],
    ["cluster"], ["cluster", "up"], ["cluster", "status"], ["cluster", "down"], ["cluster", "join"],
    ["models"], ["models", "list"], ["models", "pull"],
    ["serve"], ["serve", "deploy"], ["serve", "status"], ["serve", "remove"],
    ["graphrag"], ["graphrag", "deploy"], ["graphrag", "status"], ["graphrag", "remove"],
    ["ingest"],
    ["jobs"], ["jobs", "list"], ["jobs", "show"],
    ["chat"],
    ["teardown"],
    ["local"], ["local", "up"], ["local", "down"], ["local", "status"], ["local", "logs"],
    ["opencode"], ["opencode", "setup"],
]

CHANGES_A_HOST = [
    ["cluster", "up"], ["cluster", "down"], ["cluster", "join"], ["models", "pull"], ["serve", "deploy"],
    ["serve", "remove"], ["graphrag", "deploy"], ["graphrag", "remove"], ["teardown"], ["opencode", "setup"],
]

SHIPPED_MODELS = Path(__file__).parents[2] / "models.toml"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "sparkctl")
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: sparkctl" in result.stdout


def test_top_level_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    for name in ("doctor", "cluster", "models", "serve", "graphrag", "ingest", "jobs", "chat", "teardown",
                 "local", "opencode", "version"):
        assert f"  {name} " in result.stdout
    for option in ("--host", "--identity", "--kubeconfig", "--config", "--output", "--verbose"):
        assert option in result.stdout


@pytest.mark.parametrize("command", CHANGES_A_HOST, ids=" ".join)
def test_commands_that_change_a_host_offer_dry_run_and_yes(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert "--dry-run" in result.stdout
    assert "--yes" in result.stdout


def test_version_in_text_and_json() -> None:
    from sparkctl import __version__

    assert runner.invoke(app, ["version"]).stdout == f"sparkctl {__version__}\n"
    assert json.loads(runner.invoke(app, ["--output", "json", "version"]).stdout) == {"version": __version__}


def test_models_list_shows_every_model_and_the_budget() -> None:
    result = runner.invoke(app, ["models", "list", "--models", str(SHIPPED_MODELS)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("qwen3-coder-next", "deepseek-r1", "qwen3-embedding", "bge-reranker-v2-m3"):
        assert name in result.stdout
    assert "= 128Gi of 128Gi unified memory" in result.stdout
    assert "GPU: 5 of 5 time-slices" in result.stdout


def test_models_list_json_is_the_catalog_and_nothing_else() -> None:
    result = runner.invoke(app, ["-o", "json", "models", "list", "--models", str(SHIPPED_MODELS)])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert [model["name"] for model in document["models"]] == [
        "qwen3-coder-next", "deepseek-r1", "qwen3", "qwen3-embedding", "bge-reranker-v2-m3",
    ]
    coder = document["models"][0]
    assert coder["pull_ref"] == "qwen3-coder-next:q4_K_M"
    assert coder["memory_bytes"] == 54 * 2**30
    assert coder["pvc"] == "qwen3-coder-next-models"
    assert document["budget"]["memory_fits"] is True
    assert document["platform"]["kubernetes_version"] == "1.34"


def test_models_list_reads_the_environment_variable(tmp_path: Path) -> None:
    custom = tmp_path / "models.toml"
    custom.write_text(SHIPPED_MODELS.read_text().replace('name = "qwen3-coder-next"', 'name = "my-coder"'))
    result = runner.invoke(app, ["-o", "json", "models", "list"], env={"SPARKCTL_MODELS": str(custom)})
    assert json.loads(result.stdout)["models"][0]["name"] == "my-coder"


def test_broken_models_toml_is_one_line_naming_the_key_and_exit_1(tmp_path: Path) -> None:
    broken = tmp_path / "models.toml"
    broken.write_text(SHIPPED_MODELS.read_text().replace('memory = "28Gi"', 'memory = "28GB"'))
    result = runner.invoke(app, ["models", "list", "--models", str(broken)])
    assert result.exit_code == 1
    first, *rest = result.stderr.strip().splitlines()
    assert first == (
        f"Error: {broken}: model[1] (deepseek-r1).memory: "
        "'28GB' is not a Kubernetes quantity (for example 16Gi or 512Mi)"
    )
    assert len(rest) == 1 and "models.toml" in rest[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_verbose_adds_the_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "models.toml"
    broken.write_text("not toml [")
    result = runner.invoke(app, ["--verbose", "models", "list", "--models", str(broken)])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert "not valid TOML" in result.stderr


def test_config_file_sets_defaults_and_unknown_keys_are_named(tmp_path: Path) -> None:
    custom = tmp_path / "custom.toml"
    custom.write_text(SHIPPED_MODELS.read_text().replace('name = "qwen3-coder-next"', 'name = "from-config"'))
    config = tmp_path / "config.toml"
    config.write_text(f'models = "{custom}"\n')
    result = runner.invoke(app, ["--config", str(config), "-o", "json", "models", "list"])
    assert json.loads(result.stdout)["models"][0]["name"] == "from-config"

    config.write_text('modles = "x"\n')
    result = runner.invoke(app, ["--config", str(config), "models", "list"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {config}: modles: unknown setting")


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--config", str(tmp_path / "none.toml"), "models", "list"])
    assert result.exit_code == 1
    assert "no such config file" in result.stderr


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from sparkctl.cli.app import app\n"
        "from typer.testing import CliRunner\n"
        "CliRunner().invoke(app, ['--help'])\n"
        "heavy = [m for m in ('kubernetes', 'paramiko', 'lightrag', 'fastapi', 'psycopg', 'pydantic', 'httpx',"
        " 'pyhelm3', 'rich') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
