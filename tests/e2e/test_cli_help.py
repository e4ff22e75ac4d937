"""Help text and start-up cost: no Ray needed to learn the commands."""

from __future__ import annotations

import subprocess
import sys

import pytest

from raybank.cli.main import app


def command_names() -> list[str]:
    return sorted(command.name or command.callback.__name__ for command in app.registered_commands)


def test_every_command_documents_itself_with_an_example():
    for command in app.registered_commands:
        doc = command.callback.__doc__ or ""
        assert doc.strip(), f"{command.callback.__name__} has no help text"
        assert "Example: raybank" in doc, f"{command.callback.__name__} has no example line"


@pytest.mark.parametrize("args", [["--help"], ["deposit", "--help"]])
def test_help_does_not_import_ray(args):
    probe = ("import sys, runpy; sys.argv = ['raybank', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('raybank', run_name='__main__')\n"
             "except SystemExit as done:\n"
             "    assert 'ray' not in sys.modules, 'ray was imported'\n"
             "    raise\n")
    result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_contract_commands_are_all_present():
    assert {"up", "down", "status", "create", "deposit", "withdraw", "balance", "accounts",
            "kill", "history", "verify", "demo"} <= set(command_names())
