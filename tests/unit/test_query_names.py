"""Which keywords of a question are looked up as entity names."""

from __future__ import annotations

from sparkctl.services.lightrag.names import identifiers


def test_identifiers_are_the_keywords_written_as_code_each_once() -> None:
    keywords = ["Client", "http client", "send", " httpx._client.Client ", "Client", "a.", "x1", "2fa", "parse_file"]
    assert identifiers(keywords) == ["Client", "send", "httpx._client.Client", "parse_file"]


def test_no_keywords_no_identifiers() -> None:
    assert identifiers([]) == []
    assert identifiers(["what does it do", "??"]) == []
