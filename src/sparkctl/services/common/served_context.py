"""What a model server says about the context it runs a model with, from the answers of its own routes.

Ollama's `/api/show` gives the model's trained length (`model_info["<arch>.context_length"]`) and any
`num_ctx` its Modelfile sets; sparkctl sends `num_ctx` from models.toml with every request, so the
smaller of the two is what a request gets. vLLM lists `max_model_len` under `/v1/models`; llama.cpp's
`llama-server` gives `n_ctx` under `/props`. Servers that say nothing (llama-cpp-python's) leave
models.toml's figure in force.
"""

from __future__ import annotations

import re
from typing import Any

_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.M)


def ollama_context(show: Any) -> int | None:
    """The context length in an Ollama /api/show answer: its Modelfile's num_ctx, else the trained length."""
    if not isinstance(show, dict):
        return None
    parameters = show.get("parameters")
    if isinstance(parameters, str) and (match := _NUM_CTX.search(parameters)):
        return int(match.group(1))
    info = show.get("model_info")
    if isinstance(info, dict):
        for key, value in info.items():
            if key.endswith(".context_length") and isinstance(value, int) and value > 0:
                return value
    return None


def listed_context(models: Any, name: str) -> int | None:
    """`max_model_len` of the model `name` in an OpenAI-style /v1/models answer (vLLM's)."""
    entries = models.get("data") if isinstance(models, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("id") == name:
            value = entry.get("max_model_len")
            return value if isinstance(value, int) and value > 0 else None
    return None


def props_context(props: Any) -> int | None:
    """`n_ctx` of a llama.cpp server's /props answer (per slot, where recent versions put it)."""
    if not isinstance(props, dict):
        return None
    settings = props.get("default_generation_settings")
    for source in (settings, props):
        if isinstance(source, dict) and isinstance(source.get("n_ctx"), int) and source["n_ctx"] > 0:
            return int(source["n_ctx"])
    return None


def effective_context(configured: int | None, served: int | None, *, sent_per_request: bool) -> int | None:
    """The context a request gets: on Ollama the configured num_ctx sent with it, capped by what the model
    holds; elsewhere what the server runs with; models.toml's figure when the server says nothing."""
    if served is None:
        return configured
    if sent_per_request and configured:
        return min(configured, served)
    return served
