"""The user's sparkctl configuration file: defaults for the global options.

Precedence everywhere: command-line option > environment variable > this file > built-in default.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from sparkctl.errors import ConfigError
from sparkctl.paths import config_dir


@dataclass(frozen=True)
class UserConfig:
    """What ~/.config/sparkctl/config.toml may set."""

    host: str | None = None
    identity: str | None = None
    kubeconfig: str | None = None
    models: str | None = None
    endpoint: str | None = None
    api_key: str | None = None
    digest_webhook: str | None = None
    """Where `sparkctl digest --webhook` posts (a Slack-compatible incoming webhook URL)."""


def default_config_path() -> Path:
    return config_dir() / "config.toml"


def load_user_config(explicit: Path | None = None) -> UserConfig:
    """Read `explicit` (which must exist) or the default file (which may be absent)."""
    path = explicit or default_config_path()
    if not path.is_file():
        if explicit is not None:
            raise ConfigError(f"{path}: no such config file", hint="Pass an existing file with --config.")
        return UserConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}", hint="Fix or remove the file.") from None
    known = {field.name for field in fields(UserConfig)}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(
                f"{path}: {key}: unknown setting", hint="Known settings: " + ", ".join(sorted(known)) + "."
            )
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {key}: must be a string", hint=f'Write it as {key} = "...".')
    return UserConfig(**data)
