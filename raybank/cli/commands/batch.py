"""The batch command: its words; the scheduling of its lines is raybank.cli.batch."""

from __future__ import annotations

from typing import Annotated

import typer

from raybank.cli.app import JsonOption
from raybank.cli.runner import Invocation, parent_context, run


def batch(ctx: typer.Context,
          file: Annotated[str, typer.Argument(help="File of commands; - for stdin.")] = "-",
          json_: JsonOption = False) -> None:
    """Run one command a line (the words after `raybank`) over one connection.

    Prints one JSON line per command, in input order, each once its command is durable:
    {"line": N, "exit": CODE, "result": {...}} or {"line": N, "exit": CODE, "error": {...}}.
    Commands on one account keep their order; different accounts proceed in parallel.
    Exits 0 if every line did, else with the first failing line's code.
    Example: raybank batch ops.txt
    """
    def action(inv: Invocation) -> None:
        from raybank.cli.batch import open_input, run_batch

        # Every line runs under the group this command runs in (the command line's or the
        # gateway's), with the settings already parsed.
        parent = parent_context(ctx.find_root().command, inv.settings)
        inv.exit(run_batch(inv, open_input(file), parent))

    run(ctx, json_, action)
