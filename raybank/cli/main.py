"""The whole command line: the app with every command registered, and its entry point.

Registered here, in the order `raybank --help` lists them, rather than by decorators in the
command modules: importing a command module changes nothing, and this list is the one place
that says which commands exist (their facts are raybank.cli.catalog's).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import typer

from raybank.cli import runner
from raybank.cli.app import app
from raybank.cli.commands import (
    accounts,
    batch,
    cluster,
    inspection,
    nodes,
    scenarios,
    tools,
    transfers,
)

for _command in (
    cluster.up, cluster.down, cluster.status, nodes.nodes, nodes.kill_node,
    accounts.create, accounts.deposit, accounts.withdraw, transfers.transfer,
    accounts.balance, accounts.accounts, accounts.kill, accounts.history,
    inspection.verify, scenarios.demo, scenarios.simulate, batch.batch, tools.env,
):
    app.command(name=_command.__name__.replace("_", "-"))(_command)

_GROUP: Any = None


def command_group() -> Any:
    """The click group behind the Typer app, built once per process."""
    global _GROUP
    if _GROUP is None:
        _GROUP = typer.main.get_command(app)
    return _GROUP


def main(after_attach: Iterable[Callable[[Path], None]] = ()) -> None:
    """Run the command here, as a Ray driver when it needs one; usage errors exit 2.

    ``after_attach`` runs with the home's folder once this process has attached to the
    embedded cluster (see runner.AFTER_ATTACH).
    """
    runner.AFTER_ATTACH.extend(after_attach)
    sys.exit(runner.execute(command_group(), sys.argv[1:]))
