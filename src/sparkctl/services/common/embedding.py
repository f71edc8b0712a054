"""A deterministic feature-hashing embedder for offline use.

It needs no model: words and word pairs are hashed into a fixed number of dimensions and the vector
is L2-normalised, so texts that share words are close. It is far weaker than a real embedding model
and is labelled so wherever it is offered (`sparkctl local up --embedder hash`).
"""

from __future__ import annotations

import itertools
import re
import zlib
from functools import lru_cache

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


@lru_cache(maxsize=1 << 18)
def _slot(feature: str, dimensions: int) -> tuple[int, float]:
    """Where a feature lands and with which sign: a pure function of the feature, cached (vocabularies repeat)."""
    value = zlib.crc32(feature.encode())
    return value % dimensions, 1.0 if value & 0x80000000 else -1.0


def hash_embed(texts: list[str], dimensions: int) -> np.ndarray:
    """One unit vector of `dimensions` float32 per text; the same text always gives the same vector."""
    matrix = np.zeros((len(texts), dimensions), dtype=np.float32)
    for row, text in enumerate(texts):
        features = _features(text)
        if not features:
            continue
        slots = [_slot(feature, dimensions) for feature in features]
        indices = np.fromiter((index for index, _ in slots), dtype=np.int64, count=len(slots))
        signs = np.fromiter((sign for _, sign in slots), dtype=np.float32, count=len(slots))
        np.add.at(matrix[row], indices, signs)
        norm = float(np.linalg.norm(matrix[row]))
        if norm > 0:
            matrix[row] /= norm
    return matrix
