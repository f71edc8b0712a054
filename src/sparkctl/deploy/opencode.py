"""OpenCode's global configuration (~/.config/opencode/opencode.json) pointed at the platform.

The orchestrator is one OpenAI-compatible provider, `sparkctl`, whose models are the catalog's chat roles and
model names (it routes them and adds memory); when the models have NodePorts, each model server is also a
provider of its own (`sparkctl-NAME`), to reach a model directly. The user's other providers and settings
stay; sparkctl's own providers are replaced as a whole; the default model becomes the orchestrator's `coding`
route only when the user has none.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparkctl.catalog import Catalog, Model
from sparkctl.errors import ConfigError

SCHEMA = "https://opencode.ai/config.json"
PROVIDER = "sparkctl"
PACKAGE = "@ai-sdk/openai-compatible"
CHAT_ROLES = ("coding", "reasoning", "general")


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "opencode" / "opencode.json"


@dataclass(frozen=True)
class Target:
    """Where OpenCode is sent: the orchestrator, with its key and workspace, and the models' host (if any)."""

    endpoint: str
    api_key: str | None
    workspace: str
    model_host: str | None = None
    """Host name of the cluster, when the model servers' NodePorts are to be providers too."""


def _options(base_url: str, api_key: str | None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {"baseURL": base_url}
    if api_key:
        options["apiKey"] = api_key
    if headers:
        options["headers"] = headers
    return options


def orchestrator_provider(catalog: Catalog, target: Target) -> dict[str, Any]:
    roles = [role for role in CHAT_ROLES if catalog.by_role(role)]
    models: dict[str, Any] = {
        role: {"name": f"{role} → {catalog.by_role(role)[0].name} (with memory)"} for role in roles
    }
    for model in catalog:
        if model.role in CHAT_ROLES:
            for name in model.routing_names():
                models[name] = {"name": f"{name} (with memory)", "limit": _limit(model)}
    return {
        "npm": PACKAGE,
        "name": "sparkctl (orchestrator)",
        "options": _options(f"{target.endpoint}/v1", target.api_key, {"X-Workspace": target.workspace}),
        "models": models,
    }


def _limit(model: Model) -> dict[str, int]:
    """OpenCode's view of the model's window: the context models.toml starts it with."""
    return {"context": model.context, "output": max(1024, model.context // 8)}


def direct_providers(catalog: Catalog, host: str) -> dict[str, Any]:
    """A provider per chat model that has a NodePort, straight at its server (no memory, no routing)."""
    providers: dict[str, Any] = {}
    for model in catalog:
        if model.role not in CHAT_ROLES or model.node_port is None:
            continue
        served = [model.pull_ref, *([model.tools_alias] if model.tools_alias else [])]
        if model.backend == "vllm":
            served = list(model.routing_names())
        providers[f"{PROVIDER}-{model.name}"] = {
            "npm": PACKAGE,
            "name": f"{model.name} on the Spark (direct)",
            "options": _options(f"http://{host}:{model.node_port}/v1", None),
            "models": {name: {"name": name, "limit": _limit(model)} for name in served},
        }
    return providers


def merged_config(existing: dict[str, Any], catalog: Catalog, target: Target) -> dict[str, Any]:
    """The user's configuration with sparkctl's providers replaced and the default model set if unset."""
    config = dict(existing)
    config.setdefault("$schema", SCHEMA)
    providers = {name: value for name, value in (config.get("provider") or {}).items() if not _ours(name)}
    providers[PROVIDER] = orchestrator_provider(catalog, target)
    if target.model_host:
        providers.update(direct_providers(catalog, target.model_host))
    config["provider"] = providers
    if not config.get("model") and catalog.by_role("coding"):
        config["model"] = f"{PROVIDER}/coding"
    return config


def _ours(name: str) -> bool:
    return name == PROVIDER or name.startswith(f"{PROVIDER}-")


def read_config(path: Path) -> dict[str, Any]:
    """The existing configuration, or {} when there is none; ConfigError (nothing written) when unreadable."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(
            f"{path} is not plain JSON sparkctl can merge into ({error})",
            hint="Remove its comments or fix it, or move it away; sparkctl changes nothing until it can read it.",
        ) from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a JSON object", hint="Fix it or move it away.")
    return data


def write_config(path: Path, config: dict[str, Any]) -> None:
    """Atomically, readable by the user only: it holds an API key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.sparkctl-tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)


def masked(config: dict[str, Any]) -> dict[str, Any]:
    """The configuration as shown: API keys replaced by a mask."""
    shown = json.loads(json.dumps(config))
    for provider in (shown.get("provider") or {}).values():
        options = provider.get("options") or {}
        if options.get("apiKey"):
            options["apiKey"] = "********"
    return shown
