"""The README's generated tables: each lives between two markers and is made from its source.

`python tests/docs/readme_blocks.py` rewrites them in place; tests/docs/test_readme.py fails when
one differs from what its source makes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from qual_pipeline import settings
from qual_pipeline.lake import footer
from qual_pipeline.warehouse import columns
from qual_pipeline.warehouse.sql_files import TABLES

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS: dict[str, Callable[[], str]] = {
    "settings": settings.markdown_table,
    "footer": footer.markdown_table,
    **{f"columns {table}": partial(columns.markdown_table, table) for table in TABLES},
}
"""Block name -> the function that makes its text."""


def _pattern(name: str) -> re.Pattern[str]:
    quoted = re.escape(name)
    return re.compile(
        rf"(<!-- generated: {quoted} .*?-->\n)(.*?)(<!-- end of generated {quoted} -->)", re.S
    )


def block(text: str, name: str) -> str | None:
    """The text of block `name` in `text`, or None when its markers are missing."""
    found = _pattern(name).search(text)
    return found.group(2) if found else None


def update(path: Path = README) -> list[str]:
    """Rewrite every block of the README from its source; the names of those that changed."""
    text = path.read_text(encoding="utf-8")
    changed = []
    for name, make in BLOCKS.items():
        if block(text, name) is None:
            raise SystemExit(f"{path}: markers of the generated {name} block are missing")
        fresh = make()
        if block(text, name) != fresh:
            changed.append(name)
            text = _pattern(name).sub(lambda m, f=fresh: m.group(1) + f + m.group(3), text)
    path.write_text(text, encoding="utf-8")
    return changed


if __name__ == "__main__":
    names = update()
    print(f"updated: {', '.join(names)}" if names else "README tables are up to date")
    sys.exit(0)
