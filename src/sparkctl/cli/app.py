"""The sparkctl command: global options, the sub-apps, and the one place errors are printed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from sparkctl import __version__
from sparkctl.cli import (
    chat,
    cluster,
    console,
    digest,
    doctor,
    graphrag,
    ingest,
    jobs,
    local,
    models,
    opencode,
    serve,
    teardown,
)
from sparkctl.cli.context import AppContext, OutputFormat, app_context
from sparkctl.cli.global_options import hoist_global_options
from sparkctl.cli.help import SparkTyper
from sparkctl.cli.render import print_json, render_error, render_unexpected
from sparkctl.errors import SparkctlError


class _ErrorsAtTheEdge(TyperGroup):
    """Turns every SparkctlError into one clear message and an exit code, whatever command raised it.

    Also lets the global options follow the command, like kubectl and helm: see `hoist_global_options`.
    """

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        return super().parse_args(ctx, hoist_global_options(self, ctx, args))

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except SparkctlError as error:
            render_error(error, verbose=_verbose(ctx))
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as error:
            render_unexpected(error, verbose=_verbose(ctx))
            raise typer.Exit(1) from None
        finally:
            if isinstance(ctx.obj, AppContext):
                ctx.obj.close()


def _verbose(ctx: typer.Context) -> bool:
    return isinstance(ctx.obj, AppContext) and ctx.obj.verbose


app = SparkTyper(
    name="sparkctl",
    cls=_ErrorsAtTheEdge,
    help=(
        "Run a private LLM and GraphRAG platform on an NVIDIA DGX Spark.\n\n"
        "Global options go before or after the command; given twice, the later one wins."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main_options(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            metavar="[USER@]HOST[:PORT]",
            help="The machine to act on over SSH (default: this machine).",
        ),
    ] = None,
    identity: Annotated[
        Path | None,
        typer.Option("--identity", "-i", metavar="FILE", help="SSH private key for --host.", dir_okay=False),
    ] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            "--kubeconfig", metavar="FILE", envvar="KUBECONFIG", help="kubeconfig of the cluster.", dir_okay=False
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="sparkctl config file (default: ~/.config/sparkctl/config.toml).",
            dir_okay=False,
        ),
    ] = None,
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--output",
            "-o",
            metavar="FORMAT",
            help="text, json for scripts, yaml (a deploy's --dry-run manifests) or markdown (digests).",
        ),
    ] = OutputFormat.text,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say more; show tracebacks.")] = False,
) -> None:
    ctx.obj = AppContext(
        host_spec=host, identity=identity, kubeconfig=kubeconfig, config_path=config, output=output, verbose=verbose
    )


@app.command()
def version(ctx: typer.Context) -> None:
    """Print sparkctl's version."""
    if app_context(ctx).json:
        print_json({"version": __version__})
    else:
        typer.echo(f"sparkctl {__version__}")


app.command(name="doctor")(doctor.doctor)
app.add_typer(cluster.app, name="cluster")
app.add_typer(models.app, name="models")
app.add_typer(serve.app, name="serve")
app.add_typer(graphrag.app, name="graphrag")
app.command(name="ingest")(ingest.ingest)
app.add_typer(jobs.app, name="jobs")
app.add_typer(digest.app, name="digest")
app.command(name="chat")(chat.chat)
app.command(name="console")(console.console)
app.command(name="teardown")(teardown.teardown)
app.add_typer(local.app, name="local")
app.add_typer(opencode.app, name="opencode")


def main() -> None:
    app()
