"""The README says what the code is: its generated tables match their sources, and its code layout
table matches the folders."""

from __future__ import annotations

import re
from typing import Any

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
    """The README's first query is the demo's (sorted, every id whole: tests/packaging/)."""
    from qual_pipeline.cli.demo import FIRST_QUERY

    assert f'sql --data-dir data/demo \\\n  "{FIRST_QUERY}"' in README.read_text()


def readme_command_lines() -> list[tuple[str, str]]:
    """(command words, text) of each `qual-pipeline ...` the README shows: in code blocks (with
    the indented lines that continue a synopsis, comments cut off) and in inline code."""
    text = README.read_text(encoding="utf-8")
    start = re.compile(r"(?:\.venv/bin/)?qual-pipeline ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)")
    found: list[tuple[str, str]] = []
    for fence in re.findall(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S):
        current: list[str] | None = None
        for line in fence.splitlines():
            code = line.split("#", 1)[0]
            hit = start.search(code)
            if hit:
                current = [hit.group(1), code[hit.end() :]]
                found.append((current[0], current[1]))
            elif current is not None and line.startswith(" ") and code.strip():
                found[-1] = (found[-1][0], found[-1][1] + " " + code)
            else:
                current = None
    for span in re.findall(r"`([^`\n]+)`", text):
        hit = start.match(span)
        if hit:
            found.append((hit.group(1), span[hit.end() :]))
    return found


def test_every_option_the_readme_shows_is_one_its_command_takes() -> None:
    import typer.main

    from qual_pipeline.cli.app import app

    root: Any = typer.main.get_command(app)  # a group (typer's own click: no isinstance)
    shown = readme_command_lines()
    assert len(shown) > 20, "the README's command lines were not found"
    wrong = []
    for words, rest in shown:
        command = root
        for word in words.split():
            if word in getattr(command, "commands", {}):
                command = command.commands[word]
        assert command is not root, f"README shows `qual-pipeline {words}`, which is no command"
        flags = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        wrong += [
            f"qual-pipeline {words} {flag}"
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest)
            if flag not in flags
        ]
    assert not wrong, f"the README shows options its commands do not take: {sorted(set(wrong))}"
