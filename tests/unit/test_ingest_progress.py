"""The file counter of `sparkctl ingest`'s progress, before and after the total is known."""

from __future__ import annotations

from sparkctl.cli.ingest import files_count


def test_an_unknown_total_is_not_shown_as_none() -> None:
    assert files_count(0, None) == "0 files"


def test_a_known_total_is_shown() -> None:
    assert files_count(3.0, 10.0) == "3/10 files"
