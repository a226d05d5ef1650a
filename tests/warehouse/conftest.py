"""Fixtures of the warehouse tests."""

from __future__ import annotations

import pytest

from qual_pipeline.warehouse import load


@pytest.fixture(params=["by hash", "rewritten"])
def merge_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once with each merge path of a load: types already loaded compared row by
    row by hash (as a merge of at least load.HASH_MERGE_MIN_ROWS rows is), and rewritten whole
    with every key compared (as a smaller merge is)."""
    smallest = 0 if request.param == "by hash" else 10**15
    monkeypatch.setattr(load, "HASH_MERGE_MIN_ROWS", smallest)
    return request.param
