"""How an IVFFlat index is sized for its table, and when the table has outgrown it."""

from __future__ import annotations

import pytest

from sparkctl.services.lightrag.vector_index import ivfflat_lists, outgrown


@pytest.mark.parametrize(("rows", "lists"), [(0, 1), (999, 1), (2100, 2), (281_686, 281)])
def test_a_list_per_thousand_rows_and_at_least_one(rows: int, lists: int) -> None:
    assert ivfflat_lists(rows) == lists


@pytest.mark.parametrize("rows", [0, 1500, 3999, 281_686, 1_000_000])
def test_an_index_just_built_is_not_outgrown(rows: int) -> None:
    assert not outgrown(rows, ivfflat_lists(rows))


def test_four_times_the_rows_its_lists_were_sized_for_is_outgrown() -> None:
    assert not outgrown(3999, 1) and outgrown(4000, 1)
    assert not outgrown(1_123_999, 281) and outgrown(1_124_000, 281)
