"""The max_tokens of LightRAG's requests: what the prompt leaves of the extract model's context."""

from __future__ import annotations

import pytest

from sparkctl.services.common.llm import ChatModel, LlmRefused
from sparkctl.services.lightrag.engine import OfflineTokenizer, output_budget

TOKENIZER = OfflineTokenizer()
MODEL = ChatModel(name="qwen3:8b", context=8192)


def _prompt(words: int) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Extract entities."}, {"role": "user", "content": "word " * words}]


def test_a_short_prompt_leaves_most_of_the_context() -> None:
    budget = output_budget(MODEL, _prompt(100), TOKENIZER, None)

    assert budget is not None
    assert 7800 < budget < 8192 - 100


def test_never_more_than_asked() -> None:
    assert output_budget(MODEL, _prompt(100), TOKENIZER, 500) == 500


def test_a_prompt_that_fills_the_context_is_refused_before_it_is_sent() -> None:
    with pytest.raises(LlmRefused, match=r"leaves no room for an answer in qwen3:8b's 8192-token context"):
        output_budget(MODEL, _prompt(7000), TOKENIZER, None)


def test_without_a_known_context_the_asked_value_stands() -> None:
    assert output_budget(ChatModel(name="x"), _prompt(100), TOKENIZER, None) is None
