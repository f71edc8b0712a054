"""Credentials sparkctl generates once into a Secret and never shows: passwords and API keys of the stack."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sparkctl.kube import Kube

API_KEY_PREFIX = "spk-"


def generate(key: str) -> str:
    """A value for the key: URL-safe (it goes into connection URLs), long enough for Neo4j's minimum of 8."""
    token = secrets.token_urlsafe(32)
    return f"{API_KEY_PREFIX}{token}" if key == "api-keys" else token


def ensure_secret(kube: Kube, namespace: str, name: str, keys: Iterable[str]) -> list[str]:
    """Create the Secret with every key, or add the keys it lacks; the keys it has are never regenerated.
    Returns the keys it generated."""
    wanted = list(keys)
    current = kube.get("Secret", name, namespace=namespace)
    present = set(((current or {}).get("data") or {}).keys())
    missing = [key for key in wanted if key not in present]
    data = {key: base64.b64encode(generate(key).encode()).decode() for key in missing}
    if current is None:
        if kube.get("Namespace", namespace) is None:
            kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        kube.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": {"app.kubernetes.io/part-of": "sparkctl"},
                },
                "data": data,
            }
        )
    elif missing:
        kube.merge_patch("Secret", name, {"data": data}, namespace=namespace)
    return missing
