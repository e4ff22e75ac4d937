"""Rules of the production code that only reading its source can check."""

from __future__ import annotations

import ast
from pathlib import Path

from raybank.domain import error_registry, errors

PACKAGE = Path(__file__).resolve().parents[2] / "raybank"


def parsed() -> list[tuple[str, ast.AST]]:
    return [(str(path.relative_to(PACKAGE.parent)), ast.parse(path.read_text(), str(path)))
            for path in sorted(PACKAGE.rglob("*.py"))]


def test_validation_raises_real_exceptions_never_assert():
    # An assert vanishes under `python -O`, and with it the check.
    found = [f"{name}:{node.lineno}" for name, tree in parsed() for node in ast.walk(tree)
             if isinstance(node, ast.Assert)]
    assert found == []


def test_every_error_is_made_as_its_specific_class_from_a_message_alone():
    # The class says the code and the exit status; a family or a code string at a raise
    # site would bring back the bare codes this hierarchy replaced.
    specific = {kind.__name__ for kind in error_registry.specific_errors()}
    classes = {name for name in errors.__all__
               if isinstance(getattr(errors, name), type)
               and issubclass(getattr(errors, name), errors.BankError)}
    found = []
    for name, tree in parsed():
        if name == "raybank/domain/errors.py":
            continue  # where codes are mapped back to classes
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            called = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if called not in classes:
                continue
            if called not in specific:
                found.append(f"{name}:{node.lineno}: {called} is a family")
            elif len(node.args) != 1 or any(word.arg != "not_applied" for word in node.keywords):
                found.append(f"{name}:{node.lineno}: {called} takes the message only")
    assert found == []
