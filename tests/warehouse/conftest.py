"""Shared fixtures for the warehouse tests; the lake helpers live in warehouse_lake.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
