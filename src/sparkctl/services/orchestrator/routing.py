"""Which backend answers a chat request: model names, roles and aliases from models.toml.

A request names a model (`qwen3-coder-next`), an alias (`qwen`), a role (`coding`) or `auto`. The
first backend is the model it names; the others of the same role follow, in models.toml order, as
fallbacks. A request with tools goes to a model's `tools_alias` when it has one.

`auto` picks a role from the request itself, without a model call:

1. tools in the request, a fenced code block in any message, or a long code-like context → `coding`;
2. otherwise a last user message that asks for reasoning (why, prove, derive, step by step, compare,
   trade-offs, analyse, plan…) → `reasoning`;
3. otherwise `coding`, the platform's main model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sparkctl.catalog import Catalog, Model
from sparkctl.services.common.llm import ApiStyle, api_style

AUTO = "auto"
CHAT_ROLES = ("coding", "reasoning", "general", "extract")
LONG_CONTEXT_CHARS = 6000
_CODE_FENCE = "```"
_CODE_LIKE = re.compile(
    r"^\s*(def |class |import |from \S+ import |fn |func |package |#include|public |const |let )", re.M
)
_REASONING = re.compile(
    r"\b(why|prove|proof|derive|reason(ing)?|step[- ]by[- ]step|compare|trade-?offs?|analy[sz]e|plan|"
    r"explain|think through|pros and cons|calculate)\b",
    re.I,
)


@dataclass(frozen=True)
class Backend:
    """One model server a request may be sent to."""

    model: Model
    served_name: str
    """What the server is asked for: Ollama's `name:tag` (or the tools alias); vLLM's served model name."""
    url: str

    @property
    def style(self) -> ApiStyle:
        return api_style(self.url)

    @property
    def label(self) -> str:
        """What X-Sparkctl-Backend says."""
        return self.served_name if self.served_name == self.model.name else f"{self.model.name} ({self.served_name})"


class Router:
    def __init__(self, catalog: Catalog, default_url: str, model_urls: Mapping[str, str]) -> None:
        self.catalog = catalog
        self.default_url = default_url
        self.model_urls = dict(model_urls)

    def names(self) -> list[tuple[str, Model | None]]:
        """Every routable name with the model it reaches first (None for `auto`)."""
        routed: list[tuple[str, Model | None]] = [(AUTO, None)]
        routed += [(name, self.catalog.resolve(name)) for name in self.catalog.routing_names()]
        return routed

    def route(self, requested: str, messages: Sequence[Mapping[str, Any]], tools: bool) -> list[Backend]:
        """The backends to try in order; UnknownModel when nothing in the catalog has that name."""
        model = self._for_role(auto_role(messages, tools)) if requested == AUTO else self.catalog.resolve(requested)
        wants_tools = tools or requested == model.tools_alias
        candidates = [model, *(other for other in self.catalog.by_role(model.role) if other.name != model.name)]
        return [Backend(m, self._served_name(m, wants_tools), self.url_of(m)) for m in candidates]

    def url_of(self, model: Model) -> str:
        return self.model_urls.get(model.name, self.default_url)

    def _for_role(self, role: str) -> Model:
        for candidate in (role, *CHAT_ROLES):
            models = self.catalog.by_role(candidate)
            if models:
                return models[0]
        return self.catalog.models[0]

    @staticmethod
    def _served_name(model: Model, tools: bool) -> str:
        if tools and model.tools_alias:
            return model.tools_alias
        return model.pull_ref if model.backend == "ollama" else model.name


def auto_role(messages: Sequence[Mapping[str, Any]], tools: bool) -> str:
    """The role `auto` picks (see the module docstring)."""
    if tools:
        return "coding"
    texts = [text_of(message.get("content")) for message in messages]
    if any(_CODE_FENCE in text for text in texts):
        return "coding"
    total = sum(len(text) for text in texts)
    if total > LONG_CONTEXT_CHARS and any(_CODE_LIKE.search(text) for text in texts):
        return "coding"
    last_user = next((text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    return "reasoning" if _REASONING.search(last_user) else "coding"


def text_of(content: Any) -> str:
    """The text of an OpenAI message content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""
