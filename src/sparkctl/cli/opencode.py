"""sparkctl opencode: point the OpenCode IDE at the platform's models."""

from __future__ import annotations

import typer

from sparkctl.cli.context import AppContext, app_context
from sparkctl.cli.options import ApiKey, DryRun, Endpoint, ModelsFile, Workspace, Yes, sub_app
from sparkctl.cli.render import escape, print_json, stdout

app = sub_app("Configure the OpenCode IDE for the local models.")


@app.command()
def setup(
    ctx: typer.Context,
    endpoint: Endpoint = None,
    api_key: ApiKey = None,
    workspace: Workspace = "default",
    models_file: ModelsFile = None,
    dry_run: DryRun = False,
    yes: Yes = False,
) -> None:
    """Write OpenCode's configuration (~/.config/opencode/opencode.json): the orchestrator as a provider with
    the catalog's models and, on a cluster, each model server directly. Other settings in the file stay."""
    from sparkctl.client import CLUSTER_ORIGIN, resolve_endpoint
    from sparkctl.deploy.opencode import Target, config_path, masked, merged_config, read_config, write_config
    from sparkctl.hosts import HostSpec
    from sparkctl.local.state import running_endpoint

    state = app_context(ctx)
    catalog = state.catalog(models_file)
    host = state.host_spec or state.config.host
    cluster_host = HostSpec.parse(host).host if host else None
    resolved = resolve_endpoint(
        endpoint or state.config.endpoint, local_endpoint=running_endpoint, cluster_host=cluster_host
    )
    on_cluster = resolved.origin == CLUSTER_ORIGIN
    key = api_key or (_cluster_api_key(state) if on_cluster else None)
    target = Target(resolved.url, key, workspace, model_host=(cluster_host or "127.0.0.1") if on_cluster else None)
    path = config_path()
    config = merged_config(read_config(path), catalog, target)
    if not dry_run:
        write_config(path, config)
    if state.json:
        print_json({"path": str(path), "written": not dry_run, "config": masked(config)})
        return
    console = stdout()
    verb = "Would write" if dry_run else "Wrote"
    console.print(f"{verb} {escape(str(path))}: orchestrator at {escape(resolved.url)} ({escape(resolved.origin)})")
    console.print(f"  providers: {', '.join(sorted(config['provider']))}; default model: {config.get('model', '-')}")
    if key is None:
        console.print("  [yellow]No API key given[/]: pass --api-key if the orchestrator requires one.")
    console.print('Try: opencode run "What does this repository do?"')


def _cluster_api_key(state: AppContext) -> str | None:
    """The orchestrator's key from the cluster, when its kubeconfig is here and the API answers."""
    from sparkctl.cluster.kubeconfig import local_kubeconfig_path, open_cluster
    from sparkctl.deploy.graphrag import orchestrator_api_key
    from sparkctl.errors import SparkctlError

    host = state.host_spec or state.config.host
    if not local_kubeconfig_path(host, state.kubeconfig).is_file():
        return None
    try:
        with open_cluster(host, state.kubeconfig, timeout=5) as kube:
            return orchestrator_api_key(kube)
    except SparkctlError:
        return None
