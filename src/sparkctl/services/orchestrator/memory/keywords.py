"""Keywords of a question without asking a model: what LightRAG's query needs to skip its LLM call.

Low-level keywords name things: identifiers as written in code (`OrchestratorClient`, `parse_file`,
`httpx.Client.send`), quoted names, capitalised words. High-level keywords say what it is about: the
remaining content words and adjacent pairs of them, most frequent first.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter

MAX_LOW, MAX_HIGH = 12, 6
_QUOTED = re.compile(r"[`'\"]([^`'\"\n]{2,80})[`'\"]")
_IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+\b|\b[A-Za-z_][A-Za-z0-9_]*\b")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]+")
_STOPWORDS_TEXT = """
a about above after again all also am an and any are as at be because been before being below between both but by
can could did do does doing done down during each few for from further get got had has have having he her here hers
him his how i if in into is it its itself just know let like make me more most my no nor not now of off on once only
or other our out over own please same she should show so some such tell than that the their them then there these
they this those through to too under until up use used using very was we were what when where which while who whom
why will with would you your yours explain describe give need want work works find see look code file files thing
things way ways
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def _is_identifier(token: str) -> bool:
    """Written like code: dotted, snake_case, camelCase or CamelCase with an inner capital."""
    return "." in token or "_" in token or bool(re.search(r"[a-z][A-Z]", token))


def query_keywords(text: str) -> tuple[list[str], list[str]]:
    """(high-level, low-level) keywords of `text`; both empty only for text without words."""
    low: list[str] = [match.strip() for match in _QUOTED.findall(text)]
    prose = _QUOTED.sub(" ", text)
    for token in _IDENTIFIER.findall(prose):
        if _is_identifier(token) or (token[0].isupper() and token.lower() not in STOPWORDS and len(token) > 2):
            low.append(token)
    prose = " ".join(token for token in prose.split() if not _is_identifier(token.strip("?!.,;:()")))
    words = [word.lower() for word in _WORD.findall(prose) if word.lower() not in STOPWORDS and len(word) > 2]
    pairs = [f"{a} {b}" for a, b in itertools.pairwise(words)]
    high = [term for term, _ in Counter(pairs + words).most_common(MAX_HIGH)]
    low = list(dict.fromkeys(low))[:MAX_LOW]
    if not low and words:
        low = list(dict.fromkeys(words))[:MAX_LOW]
    return high, low
