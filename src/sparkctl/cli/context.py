"""The global options, shared by every command through Typer's context object."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sparkctl.catalog import Catalog
    from sparkctl.client import OrchestratorClient
    from sparkctl.config import UserConfig
    from sparkctl.hosts import Host


class OutputFormat(enum.StrEnum):
    text = "text"
    json = "json"
    yaml = "yaml"
    markdown = "markdown"


@dataclass
class AppContext:
    """Global options as given; everything derived from them is resolved on first use."""

    host_spec: str | None = None
    identity: Path | None = None
    kubeconfig: Path | None = None
    config_path: Path | None = None
    output: OutputFormat = OutputFormat.text
    verbose: bool = False
    _hosts: list[Host] = field(default_factory=list)

    @property
    def json(self) -> bool:
        return self.output is OutputFormat.json

    @cached_property
    def config(self) -> UserConfig:
        from sparkctl.config import load_user_config

        return load_user_config(self.config_path)

    def catalog(self, models: Path | None = None) -> Catalog:
        """models.toml: --models, else $SPARKCTL_MODELS, else config, else ./models.toml, else built in."""
        from sparkctl.catalog import MODELS_ENV, load_catalog

        if models is None and not os.environ.get(MODELS_ENV) and self.config.models:
            models = Path(self.config.models).expanduser()
        return load_catalog(models)

    def open_host(self, spec: str | None = None) -> Host:
        """The machine commands act on: `spec`, else --host over SSH, else this one."""
        from sparkctl.hosts import open_host

        identity = self.identity or (Path(self.config.identity).expanduser() if self.config.identity else None)
        spec = spec or self.host_spec or self.config.host
        host = open_host(spec, identity=identity, sudo_password=_ask_sudo_password)
        self._hosts.append(host)
        return host

    def client(self, endpoint: str | None, api_key: str | None) -> OrchestratorClient:
        """The orchestrator: --endpoint, $SPARKCTL_ENDPOINT, config, the local stack, then the cluster."""
        from sparkctl.client import OrchestratorClient, resolve_endpoint
        from sparkctl.hosts import HostSpec
        from sparkctl.local.state import running_endpoint

        host = self.host_spec or self.config.host
        resolved = resolve_endpoint(
            endpoint or self.config.endpoint,
            local_endpoint=running_endpoint,
            cluster_host=HostSpec.parse(host).host if host else None,
        )
        return OrchestratorClient(resolved, api_key or self.config.api_key)

    def close(self) -> None:
        for host in self._hosts:
            close = getattr(host, "close", None)
            if close is not None:
                close()
        self._hosts.clear()


def _ask_sudo_password() -> str:
    """SPARKCTL_SUDO_PASSWORD, or a hidden prompt on the terminal."""
    from_env = os.environ.get("SPARKCTL_SUDO_PASSWORD")
    if from_env is not None:
        return from_env
    return typer.prompt("sudo password", hide_input=True, err=True)


def app_context(ctx: typer.Context) -> AppContext:
    """The AppContext of the running command (a default one when a command runs on its own in tests)."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext()
    return root.obj
