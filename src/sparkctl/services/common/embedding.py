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
_SIGN_BIT = 0x80000000


@lru_cache(maxsize=1 << 16)
def _words(token: str) -> tuple[str, ...]:
    """A token in lower case, followed by its snake_case and camelCase parts when it has several."""
    parts = [part.lower() for piece in token.split("_") for part in _CAMEL.split(piece) if part]
    return (token.lower(), *parts) if len(parts) > 1 else (token.lower(),)


def _features(text: str) -> list[str]:
    words = [word for token in _TOKEN.findall(text) for word in _words(token)]
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def _hashes(features: list[str]) -> np.ndarray:
    return np.fromiter((zlib.crc32(feature.encode()) for feature in features), dtype=np.int64, count=len(features))


def hash_embed(texts: list[str], dimensions: int) -> np.ndarray:
    """One unit vector of `dimensions` float32 per text; the same text always gives the same vector.

    Each feature's crc32 picks its dimension (modulo) and its sign (the top bit); the whole batch is
    summed in one `bincount` over row-major cell numbers.
    """
    features = [_features(text) for text in texts]
    hashes = _hashes([feature for row in features for feature in row])
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), [len(row) for row in features])
    cells = rows * dimensions + hashes % dimensions
    signs = np.where(hashes & _SIGN_BIT, 1.0, -1.0)
    matrix = np.bincount(cells, weights=signs, minlength=len(texts) * dimensions).reshape(len(texts), dimensions)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)
