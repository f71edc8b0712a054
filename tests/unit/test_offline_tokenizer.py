"""The offline tokenizer: tiktoken's cl100k_base, with the tokens of the last texts kept."""

from __future__ import annotations

from typing import Any

import tiktoken

from sparkctl.services.lightrag.engine import OfflineTokenizer


class Counting:
    """The encoding, counting the texts it is asked to encode."""

    def __init__(self, encoding: Any) -> None:
        self.encoding = encoding
        self.calls = 0

    def encode(self, content: str, **options: Any) -> list[int]:
        self.calls += 1
        return self.encoding.encode(content, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.encoding, name)


def counted() -> tuple[OfflineTokenizer, Counting]:
    tokenizer = OfflineTokenizer()
    counting = Counting(tokenizer.tokenizer)
    tokenizer.tokenizer = counting
    return tokenizer, counting


def test_tokens_are_cl100k_and_a_text_encoded_again_is_not_tokenized_again() -> None:
    tokenizer, counting = counted()
    text = "def area(self):\n    return self.width * self.height  # <|endoftext|> stays text\n" * 20

    first = tokenizer.encode(text)
    first.append(-1)
    second = tokenizer.encode(text)

    assert second == tiktoken.get_encoding(OfflineTokenizer.ENCODING).encode(text, disallowed_special=())
    assert counting.calls == 2, "once refused for its special-token text, once as plain text; then kept"


def test_only_the_last_texts_are_kept() -> None:
    tokenizer, counting = counted()
    texts = [f"text number {index}" for index in range(OfflineTokenizer.RECENT_ENCODINGS + 1)]
    for text in texts:
        tokenizer.encode(text)
    tokenizer.encode(texts[-1])
    assert counting.calls == len(texts)
    tokenizer.encode(texts[0])
    assert counting.calls == len(texts) + 1
