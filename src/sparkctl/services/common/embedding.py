"""A deterministic feature-hashing embedder for offline use.

It needs no model: words and word pairs are hashed into a fixed number of dimensions and the vector
is L2-normalised, so texts that share words are close. It is far weaker than a real embedding model
and is labelled so wherever it is offered (`sparkctl local up --embedder hash`).

A feature is a word in lower case (a token, then its snake_case and camelCase parts when it has several) or
two neighbouring words joined by a space; its crc32 picks its dimension (modulo) and its sign (the top bit).
The crc32 of each distinct word is computed once (`Vocabulary`), and that of a pair from its two words'
(`crc32("a b")` is `crc32("a")` carried through the bytes of " b", XOR `crc32(" b")`), so that a batch costs a
dictionary lookup per token and a few array operations, not a string and a crc32 per feature.
"""

from __future__ import annotations

import itertools
import re
import zlib

import numpy as np

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SIGN_BIT = 0x80000000
DEFAULT_DIMENSIONS = 256
"""The hash embedder's vector size: a quarter of a real model's 1 024 keeps a vector inline in its PostgreSQL
row (no TOAST) and makes indexing and searching several times cheaper, at a cost in collisions a feature hash
can afford."""

_CRC_POLYNOMIAL = 0xEDB88320
_MAX_CARRY = 256
"""Carry tables are kept for up to this many bytes; a longer word is carried through them in steps."""


def _carry_tables(limit: int) -> np.ndarray:
    """tables[n, k, b]: the crc32 register holding `b << 8k` after n zero bytes went through it.

    The register is linear over GF(2), so a register `x` carried through n bytes is the XOR of the four
    tables' entries for its four bytes."""
    table = np.zeros(256, dtype=np.uint32)
    for index in range(256):
        value = index
        for _ in range(8):
            value = (value >> 1) ^ _CRC_POLYNOMIAL if value & 1 else value >> 1
        table[index] = value
    register = np.uint32(1) << np.arange(32, dtype=np.uint32)
    carried = np.empty((limit + 1, 32), dtype=np.uint32)
    for length in range(limit + 1):
        carried[length] = register
        register = table[register & 0xFF] ^ (register >> np.uint32(8))
    byte = np.arange(256, dtype=np.uint32)
    tables = np.zeros((limit + 1, 4, 256), dtype=np.uint32)
    for part in range(4):
        for bit in range(8):
            chosen = ((byte >> np.uint32(bit)) & np.uint32(1)).astype(bool)
            tables[:, part, chosen] ^= carried[:, 8 * part + bit, None]
    return tables


class Vocabulary:
    """The crc32 of each word seen, of the word with a space before it, and that space-led word's length;
    and each token's words. Kept between batches (the hash embedder's process lives as long as its service),
    and started afresh past `limit` distinct tokens."""

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._carry = _carry_tables(_MAX_CARRY)
        self._reset()

    def _reset(self) -> None:
        self._word_ids: dict[str, int] = {}
        self._token_ids: dict[str, int] = {}
        self._token_words: list[int] = []
        """The word ids of every token, one token after the other."""
        self._token_start: list[int] = []
        self._crc: list[int] = []
        self._spaced_crc: list[int] = []
        self._spaced_length: list[int] = []
        self._arrays: tuple[np.ndarray, ...] | None = None

    def tokens_of(self, text: str) -> list[int]:
        """The ids of the tokens of a text, in order."""
        tokens = _TOKEN.findall(text)
        try:
            return list(map(self._token_ids.__getitem__, tokens))
        except KeyError:
            for token in tokens:
                if token not in self._token_ids:
                    self._learn(token)
            return list(map(self._token_ids.__getitem__, tokens))

    def words(self, tokens: np.ndarray) -> np.ndarray:
        """The word ids of these token ids, each token's words in order."""
        *_, starts, counts, token_words = self.arrays()
        count = counts[tokens]
        ends = np.cumsum(count)
        offsets = np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64) - np.repeat(ends - count, count)
        return token_words[np.repeat(starts[tokens], count) + offsets]

    def arrays(self) -> tuple[np.ndarray, ...]:
        """crc32 of each word id, crc32 of " " + word, the byte length of " " + word; each token's first place
        in the token words, and its number of words; the token words. Extended with what was learnt since."""
        known = self._arrays
        if known is not None and len(known[3]) == len(self._token_start):
            return known
        lists = (self._crc, self._spaced_crc, self._spaced_length, self._token_start, self._token_words)
        types = (np.uint32, np.uint32, np.int64, np.int64, np.int64)
        grown = [
            np.concatenate([old, np.array(values[len(old) :], dtype=kind)])
            for old, values, kind in zip(
                known[:3] + known[3:4] + known[5:] if known else [np.empty(0, kind) for kind in types],
                lists,
                types,
                strict=True,
            )
        ]
        starts = grown[3]
        self._arrays = (*grown[:3], starts, np.diff(starts, append=len(self._token_words)), grown[4])
        return self._arrays

    def carry(self, crc: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Each crc32 register carried through `lengths` zero bytes (lengths up to _MAX_CARRY)."""
        tables = self._carry
        return (
            tables[lengths, 0, crc & 0xFF]
            ^ tables[lengths, 1, (crc >> 8) & 0xFF]
            ^ tables[lengths, 2, (crc >> 16) & 0xFF]
            ^ tables[lengths, 3, crc >> 24]
        )

    def full(self) -> bool:
        return len(self._token_ids) > self.limit

    def _learn(self, token: str) -> None:
        parts = [part.lower() for piece in token.split("_") for part in _CAMEL.split(piece) if part]
        words = (token.lower(), *parts) if len(parts) > 1 else (token.lower(),)
        self._token_ids[token] = len(self._token_start)
        self._token_start.append(len(self._token_words))
        self._token_words.extend(self._word_id(word) for word in words)

    def _word_id(self, word: str) -> int:
        found = self._word_ids.get(word)
        if found is not None:
            return found
        encoded = word.encode()
        self._word_ids[word] = len(self._crc)
        self._crc.append(zlib.crc32(encoded))
        self._spaced_crc.append(zlib.crc32(b" " + encoded))
        self._spaced_length.append(len(encoded) + 1)
        return len(self._crc) - 1


_VOCABULARY: Vocabulary | None = None


def _vocabulary() -> Vocabulary:
    global _VOCABULARY
    if _VOCABULARY is None or _VOCABULARY.full():
        _VOCABULARY = Vocabulary()
    return _VOCABULARY


def hash_embed(texts: list[str], dimensions: int) -> np.ndarray:
    """One unit vector of `dimensions` float32 per text; the same text always gives the same vector.

    The whole batch is summed in one `bincount` over row-major cell numbers.
    """
    vocabulary = _vocabulary()
    per_text = [vocabulary.tokens_of(text) for text in texts]
    tokens = np.fromiter(itertools.chain.from_iterable(per_text), dtype=np.int64)
    token_rows = np.repeat(np.arange(len(texts), dtype=np.int64), [len(row) for row in per_text])
    crc, spaced_crc, spaced_length, _, word_counts, _ = vocabulary.arrays()
    words = vocabulary.words(tokens)
    rows = np.repeat(token_rows, word_counts[tokens])
    pair_rows, pairs = _pairs(vocabulary, words, rows, crc, spaced_crc, spaced_length)
    hashes = np.concatenate([crc[words], pairs]).astype(np.int64)
    cells = np.concatenate([rows, pair_rows]) * dimensions + hashes % dimensions
    signs = np.where(hashes & _SIGN_BIT, 1.0, -1.0)
    matrix = np.bincount(cells, weights=signs, minlength=len(texts) * dimensions).reshape(len(texts), dimensions)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _pairs(
    vocabulary: Vocabulary,
    words: np.ndarray,
    rows: np.ndarray,
    crc: np.ndarray,
    spaced_crc: np.ndarray,
    spaced_length: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The row and crc32 of every pair of neighbouring words inside one text."""
    same_text = rows[1:] == rows[:-1]
    first, second = words[:-1][same_text], words[1:][same_text]
    lengths = spaced_length[second]
    carried = crc[first]
    while (long := lengths > _MAX_CARRY).any():
        carried[long] = vocabulary.carry(carried[long], np.full(int(long.sum()), _MAX_CARRY))
        lengths = np.where(long, lengths - _MAX_CARRY, lengths)
    return rows[1:][same_text], vocabulary.carry(carried, lengths) ^ spaced_crc[second]
