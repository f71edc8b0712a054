"""sparkctl console: open the orchestrator's web console in the browser."""

from __future__ import annotations

from typing import Annotated

import typer

from sparkctl.cli.context import app_context
from sparkctl.cli.options import Endpoint
from sparkctl.cli.render import print_json, stdout

CONSOLE_PATH = "/ui/"


def console(
    ctx: typer.Context,
    endpoint: Endpoint = None,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open the console in the default browser.")
    ] = True,
) -> None:
    """Open the web console of the orchestrator (the local stack's, else the cluster's NodePort 31800).

    It checks that the orchestrator answers, prints the console's URL and opens it. The console asks for an API key
    once and keeps it in the browser tab's session storage; the key is never put in the URL.
    """
    import webbrowser

    state = app_context(ctx)
    with state.client(endpoint, None) as client:
        client.health()
        url = client.endpoint.url + CONSOLE_PATH
    opened = webbrowser.open(url) if browser else False
    if state.json:
        print_json({"url": url, "opened": opened})
        return
    stdout().print(url, highlight=False, soft_wrap=True)
    if browser and not opened:
        stdout().print("No browser could be opened here: open the URL above in one.", highlight=False)
