"""The hash embedder: the crc32 features of words and word pairs, computed from each word's crc32 once."""

from __future__ import annotations

import itertools
import re
import zlib

import numpy as np
import pytest

from sparkctl.services.common import embedding
from sparkctl.services.common.embedding import Vocabulary, hash_embed

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def reference(texts: list[str], dimensions: int) -> np.ndarray:
    """The definition, feature by feature: a word's crc32, and that of `"a b"` for neighbouring words."""
    matrix = np.zeros((len(texts), dimensions))
    for row, text in enumerate(texts):
        words = []
        for token in _TOKEN.findall(text):
            parts = [part.lower() for piece in token.split("_") for part in _CAMEL.split(piece) if part]
            words += [token.lower(), *parts] if len(parts) > 1 else [token.lower()]
        features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        for feature in features:
            crc = zlib.crc32(feature.encode())
            matrix[row, crc % dimensions] += 1.0 if crc & 0x80000000 else -1.0
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)


TEXTS = [
    "class HTTPTransport(BaseTransport):\n    def handle_request(self, request): ...",
    "method httpx._client.Client.send in httpx/_client.py:10-20.\nSignature: def send(self, request)",
    "x = 1",
    "",
    "!!! ... ???",
    "déjà vu: naïve café 42 times",
    "a" * 700 + " " + "b" * 1300 + "_tail " + "c",
    "getHTTPResponseCode parseJSON2XML snake_case_name __dunder__",
]


@pytest.mark.parametrize("dimensions", [256, 1024, 7])
def test_vectors_are_those_of_the_feature_definition(dimensions: int) -> None:
    assert np.array_equal(hash_embed(TEXTS, dimensions), reference(TEXTS, dimensions))


def test_a_text_has_the_same_vector_alone_in_a_batch_and_after_the_vocabulary_starts_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    together = hash_embed(TEXTS, 256)
    monkeypatch.setattr(embedding, "_VOCABULARY", Vocabulary(limit=3))
    alone = np.stack([hash_embed([text], 256)[0] for text in reversed(TEXTS)])[::-1]
    assert np.array_equal(alone, together)


def test_vectors_have_unit_length_and_texts_that_share_words_are_close() -> None:
    vectors = hash_embed(["the client sends a request", "a request the client sends", "zebra quartz"], 256)
    assert vectors.shape == (3, 256) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert float(vectors[0] @ vectors[1]) > 0.5 > abs(float(vectors[0] @ vectors[2]))


def test_an_empty_text_is_the_zero_vector() -> None:
    assert not hash_embed(["", "..."], 64).any()
