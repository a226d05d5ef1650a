"""The README says what the code is: its generated tables match their sources, and its code layout
table matches the folders."""

from __future__ import annotations

import re

import pytest
from readme_blocks import BLOCKS, README, block

PACKAGE = README.parent / "qual_pipeline"


@pytest.mark.parametrize("name", list(BLOCKS))
def test_generated_tables_match_their_source(name: str) -> None:
    found = block(README.read_text(encoding="utf-8"), name)
    assert found is not None, f"README has no generated {name} block"
    assert found == BLOCKS[name](), "run `python tests/docs/readme_blocks.py`"


def layout_paths() -> list[str]:
    """The paths in the first column of the README's code layout table."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| path | what it is |") :].split("\n\n", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", table, re.M)


def test_code_layout_table_matches_the_folders() -> None:
    listed = layout_paths()
    for path in listed:
        assert (README.parent / path).exists(), f"README lists {path}, which does not exist"
    here = {
        f"qual_pipeline/{p.name}{'/' if p.is_dir() else ''}"
        for p in PACKAGE.iterdir()
        if ((p.is_dir() and (p / "__init__.py").exists()) or p.name == "sql")
        or (p.suffix == ".py" and p.name != "__init__.py")
    }
    missing = sorted(here - set(listed))
    assert not missing, f"the README's code layout table does not list {missing}"


def test_first_query_is_the_one_the_demo_suggests() -> None:
    """The README's first query is the demo's (sorted, every id whole: tests/cli/test_demo.py)."""
    from qual_pipeline.cli.demo import FIRST_QUERY

    assert f'sql --data-dir data/demo \\\n  "{FIRST_QUERY}"' in README.read_text()
