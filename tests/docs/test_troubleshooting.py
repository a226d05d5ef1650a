"""The README's troubleshooting section quotes only messages the tests meet: each quoted message
(a bold code span, `**`...`**`) is asserted by a test: every literal piece of it occurs in one
test file, as text or in an f-string.

In a quote, `...` stands for any text, ` / ` separates alternatives (each asserted), and the
placeholders below for the values a real message holds.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from readme_blocks import README

TESTS = Path(__file__).resolve().parents[1]
PLACEHOLDERS = (
    "DIR",
    "URL",
    "NAME",
    "FILE",
    "N",
    "X",
    "SIGINT",
    "SIGTERM",
    "127.0.0.1:8443",
    "5",
    "inputs/desired_scores.csv",
)
SPLIT = re.compile(
    r"\.\.\.| / |" + "|".join(rf"(?<![\w/.-]){re.escape(p)}(?![\w/.-])" for p in PLACEHOLDERS)
)
EDGES = " '\"(),;:"


def troubleshooting() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Troubleshooting")
    return text[start : text.index("\n## ", start + 1)]


def quoted_messages() -> list[str]:
    """Each bold code span of the section, its line breaks made spaces."""
    return [" ".join(q.split()) for q in re.findall(r"\*\*`([^`]+)`", troubleshooting())]


def pieces(message: str) -> list[str]:
    """The literal pieces of a quote (placeholders, `...` and edges' punctuation dropped)."""
    found = (p.strip(EDGES) for p in SPLIT.split(message))
    return [p for p in found if len(p) >= 2]


def test_section_quotes_messages() -> None:
    assert len(quoted_messages()) >= 20


def normalised(text: str) -> str:
    """A test source with adjacent string literals joined and white space collapsed."""
    joined = re.sub(r"[\"']\s*\n\s*[rbf]*[\"']", "", text)
    return " ".join(joined.split())


SOURCES = {
    p: normalised(p.read_text(encoding="utf-8"))
    for p in TESTS.rglob("*.py")
    if p.resolve() != Path(__file__).resolve()
}


@pytest.mark.parametrize("message", quoted_messages())
def test_each_quoted_message_is_asserted_by_a_test(message: str) -> None:
    wanted = pieces(message)
    assert wanted, message
    assert any(all(piece in text for piece in wanted) for text in SOURCES.values()), (
        f"no test asserts every piece of {message!r}: {wanted}"
    )
