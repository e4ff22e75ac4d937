"""The docs keep up with the code: every command and every error code is documented.

In the manner of sqlite-utils' tests/test_docs.py: the lists come from the code itself (the
Typer app's commands, the error classes), so a new command or code without docs fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from raybank.domain.error_registry import specific_errors
from raybank.domain.errors import ExitStatus

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DECISIONS = ROOT / "docs" / "decisions.md"
CONTRACT = ROOT.parent / "shared" / "CONTRACT.md"  # the CLI contract, kept beside the repo


def cli_app() -> Any:
    """The Typer app with every command registered: the one line to change if it moves."""
    from raybank.cli.main import app

    return app


def command_names() -> list[str]:
    names = sorted(typer.main.get_command(cli_app()).commands)
    assert len(names) >= 15, names  # every command registered, or this test checks nothing
    return names


def mentions(text: str, word: str, pattern: str) -> bool:
    """Does ``word`` stand alone (not as part of a longer name) where ``pattern`` says?"""
    return re.search(pattern.format(re.escape(word) + r"(?![\w-])"), text, re.M) is not None


def section(text: str, heading: str) -> str:
    return text.split(heading, 1)[1].split("\n## ", 1)[0]


def error_code_groups() -> dict[int, list[str]]:
    """The codes in decisions.md's list of error codes, by the exit status they are under.

    The list is one bullet, "**Error codes**", with one sub-bullet per exit status
    ("  - exit N, ...") whose lines may wrap.
    """
    lines = DECISIONS.read_text().split("- **Error codes**", 1)[1].splitlines()[1:]
    groups: dict[int, list[str]] = {}
    status = None
    for line in lines:
        if not line.startswith("  "):
            break  # the next bullet: the list has ended
        heading = re.match(r"  - exit (\d)\b", line)
        if heading:
            status = int(heading.group(1))
            groups[status] = []
        if status is not None:
            groups[status] += re.findall(r"`([a-z][a-z0-9-]*)`", line)
    return groups


def test_the_app_is_found_and_has_its_commands():
    assert {"create", "deposit", "withdraw", "transfer", "batch", "simulate"} <= set(
        command_names())


@pytest.mark.parametrize("name", command_names())
def test_every_command_is_in_the_readme(name):
    assert mentions(README.read_text(), name, r"raybank {}"), f"README.md lacks `raybank {name}`"


@pytest.mark.parametrize("name", command_names())
def test_every_command_is_in_the_contract_or_its_extensions(name):
    if not CONTRACT.exists():
        pytest.skip(f"the contract is kept outside the repository, at {CONTRACT}")
    in_contract = mentions(CONTRACT.read_text(), name, r"^\| `{}")
    extension = mentions(section(DECISIONS.read_text(), "## Contract extensions"), name, r"`{}")
    assert in_contract or extension, (
        f"{name} is neither a command of {CONTRACT} nor a contract extension in docs/decisions.md")


def test_every_error_code_is_listed_under_its_exit_status():
    groups = error_code_groups()
    assert sorted(groups) == [ExitStatus.REFUSED, ExitStatus.INVALID, ExitStatus.NOT_FOUND,
                              ExitStatus.INFRASTRUCTURE]
    listed = {code: status for status, codes in groups.items() for code in codes}
    missing = [kind.code for kind in specific_errors() if kind.code not in listed]
    assert missing == [], "docs/decisions.md's list of error codes lacks these"
    misplaced = [kind.code for kind in specific_errors()
                 if listed[kind.code] != kind.exit_code]
    assert misplaced == [], "listed under another exit status than the one they exit with"


def test_every_listed_error_code_is_one_raybank_has():
    known = {kind.code for kind in specific_errors()}
    stale = [code for codes in error_code_groups().values() for code in codes
             if code not in known]
    assert stale == []
