"""A deterministic feature-hashing embedder for offline use.

It needs no model: words and word pairs are hashed into a fixed number of dimensions and the vector
is L2-normalised, so texts that share words are close. It is far weaker than a real embedding model
and is labelled so wherever it is offered (`sparkctl local up --embedder hash`).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re

import numpy as np

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _features(text: str) -> list[str]:
    words: list[str] = []
    for token in _TOKEN.findall(text):
        words.append(token.lower())
        parts = [part.lower() for piece in token.split("_") for part in _CAMEL.split(piece) if part]
        if len(parts) > 1:
            words.extend(parts)
    pairs = [f"{a} {b}" for a, b in itertools.pairwise(words)]
    return words + pairs


def _slot(feature: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dimensions, 1.0 if (value >> 63) & 1 else -1.0


def hash_embed(texts: list[str], dimensions: int) -> np.ndarray:
    """One unit vector of `dimensions` float32 per text; the same text always gives the same vector."""
    matrix = np.zeros((len(texts), dimensions), dtype=np.float32)
    for row, text in enumerate(texts):
        features = _features(text)
        for feature in features:
            index, sign = _slot(feature, dimensions)
            matrix[row, index] += sign / math.sqrt(len(features))
        norm = float(np.linalg.norm(matrix[row]))
        if norm > 0:
            matrix[row] /= norm
    return matrix
