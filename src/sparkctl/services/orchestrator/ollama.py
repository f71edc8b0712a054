"""Translation between OpenAI's Chat Completions and Ollama's native /api/chat.

Ollama's native API is the one that takes the context length per request (`options.num_ctx`), so
models served by Ollama are asked through it and their answers are rewritten into OpenAI's format.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from sparkctl.services.orchestrator.routing import Backend, text_of

_OPTIONS = {"temperature": "temperature", "top_p": "top_p", "seed": "seed", "stop": "stop",
            "presence_penalty": "presence_penalty", "frequency_penalty": "frequency_penalty"}  # fmt: skip


def ollama_request(backend: Backend, body: Mapping[str, Any], stream: bool) -> dict[str, Any]:
    """The /api/chat payload for an OpenAI request."""
    options: dict[str, Any] = {"num_ctx": backend.model.context}
    for openai_name, ollama_name in _OPTIONS.items():
        if body.get(openai_name) is not None:
            options[ollama_name] = body[openai_name]
    if isinstance(options.get("stop"), str):
        options["stop"] = [options["stop"]]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None:
        options["num_predict"] = max_tokens
    payload: dict[str, Any] = {
        "model": backend.served_name,
        "messages": [_message(message) for message in body["messages"]],
        "stream": stream,
        "options": options,
    }
    if body.get("tools"):
        payload["tools"] = body["tools"]
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_object":
        payload["format"] = "json"
    elif response_format.get("type") == "json_schema":
        payload["format"] = (response_format.get("json_schema") or {}).get("schema", "json")
    return payload


def _message(message: Mapping[str, Any]) -> dict[str, Any]:
    role = "system" if message.get("role") == "developer" else message.get("role")
    converted: dict[str, Any] = {"role": role, "content": text_of(message.get("content"))}
    calls = message.get("tool_calls")
    if calls:
        converted["tool_calls"] = [
            {"function": {"name": call["function"]["name"], "arguments": _arguments(call["function"])}}
            for call in calls
            if isinstance(call, dict) and isinstance(call.get("function"), dict)
        ]
    if role == "tool" and message.get("name"):
        converted["tool_name"] = message["name"]
    return converted


def _arguments(function: Mapping[str, Any]) -> Any:
    arguments = function.get("arguments") or "{}"
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return {}
    return arguments


def openai_tool_calls(calls: list[Any] | None, first_index: int = 0) -> list[dict[str, Any]]:
    """Ollama's tool calls as OpenAI's: ids made up, arguments as a JSON string."""
    converted = []
    for offset, call in enumerate(calls or []):
        function = call.get("function") or {}
        arguments = function.get("arguments", {})
        converted.append(
            {
                "index": first_index + offset,
                "id": f"call_{first_index + offset}_{int(time.time() * 1000) % 100000000}",
                "type": "function",
                "function": {
                    "name": function.get("name", ""),
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        )
    return converted


def finish_reason(event: Mapping[str, Any], called_tools: bool) -> str:
    if called_tools:
        return "tool_calls"
    return "length" if event.get("done_reason") == "length" else "stop"


def usage_of(event: Mapping[str, Any]) -> dict[str, int]:
    prompt, completion = int(event.get("prompt_eval_count") or 0), int(event.get("eval_count") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def openai_completion(event: Mapping[str, Any], completion_id: str, model: str) -> dict[str, Any]:
    """A whole /api/chat answer as an OpenAI ChatCompletion."""
    message = event.get("message") or {}
    calls = openai_tool_calls(message.get("tool_calls"))
    answer: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
    if calls:
        answer["tool_calls"] = [{key: value for key, value in call.items() if key != "index"} for call in calls]
    if message.get("thinking"):
        answer["reasoning_content"] = message["thinking"]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": answer, "finish_reason": finish_reason(event, bool(calls))}],
        "usage": usage_of(event),
    }
