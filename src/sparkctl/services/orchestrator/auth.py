"""API keys, each optionally bound to workspaces, and the workspace a request acts in."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from sparkctl.services.common.workspaces import DEFAULT_WORKSPACE, InvalidWorkspace, validate_workspace
from sparkctl.services.orchestrator.errors import ApiError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiKey:
    """A key (kept only as its SHA-256) and the workspaces it may use (None: all)."""

    digest: bytes
    workspaces: frozenset[str] | None
    label: str

    def allows(self, workspace: str) -> bool:
        return self.workspaces is None or workspace in self.workspaces


@dataclass(frozen=True)
class Caller:
    key: ApiKey | None

    def allows(self, workspace: str) -> bool:
        return self.key is None or self.key.allows(workspace)

    @property
    def workspaces(self) -> frozenset[str] | None:
        return None if self.key is None else self.key.workspaces


class KeyRing:
    """The configured keys; empty means the API is open (a warning is logged at start)."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self.keys = keys

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Entries separated by commas or new lines: KEY, or KEY:WORKSPACE|WORKSPACE."""
        keys = []
        for index, entry in enumerate(part.strip() for line in text.splitlines() for part in line.split(",")):
            if not entry or entry.startswith("#"):
                continue
            secret, _, bound = entry.partition(":")
            workspaces = frozenset(validate_workspace(w) for w in bound.split("|") if w) if bound else None
            keys.append(ApiKey(hashlib.sha256(secret.encode()).digest(), workspaces, f"key#{index + 1}"))
        return cls(keys)

    @classmethod
    def from_settings(cls, inline: str | None, file: Path | None) -> KeyRing:
        text = "\n".join(part for part in (inline, file.read_text() if file else None) if part)
        return cls.parse(text)

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def identify(self, presented: str) -> ApiKey | None:
        """The key matching `presented`, compared in constant time against every key."""
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for key in self.keys:
            if hmac.compare_digest(key.digest, digest):
                found = key
        return found


def authenticate(request: Request) -> Caller:
    """FastAPI dependency: the caller, or 401 when keys are configured and none valid was presented."""
    ring: KeyRing = request.app.state.keys
    if not ring.enabled:
        return Caller(None)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'", "missing_api_key")
    key = ring.identify(token.strip())
    if key is None:
        raise ApiError(401, "invalid API key", "invalid_api_key")
    return Caller(key)


def request_workspace(request: Request) -> str:
    """The workspace named by X-Workspace (default 'default'), validated: 400 otherwise."""
    try:
        return validate_workspace(request.headers.get("x-workspace") or DEFAULT_WORKSPACE)
    except InvalidWorkspace as exc:
        raise ApiError(400, f"{exc.message}: {exc.hint}", "invalid_workspace") from None


def require_workspace(caller: Caller, workspace: str) -> None:
    if not caller.allows(workspace):
        raise ApiError(403, f"this API key may not use workspace '{workspace}'", "workspace_not_allowed")
