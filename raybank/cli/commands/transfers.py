"""The transfer command: money between two accounts, atomically, once per op id."""

from __future__ import annotations

from typing import Annotated

import typer

from raybank.cli.app import JsonOption, OpIdOption, complete_account
from raybank.cli.runner import Invocation, run
from raybank.domain.money import parse_amount
from raybank.domain.names import validate_name


def transfer(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="FROM", autocompletion=complete_account)],
    target: Annotated[str, typer.Argument(metavar="TO", autocompletion=complete_account)],
    amount: Annotated[str, typer.Argument(metavar="AMT")],
    op_id: OpIdOption = None,
    json_: JsonOption = False,
) -> None:
    """Move money atomically from one account to another, exactly once per op id.

    Example: raybank transfer alice bob 25.00
    """
    def action(inv: Invocation) -> None:
        args = validate_name(source), validate_name(target), parse_amount(amount)
        inv.finish("transfer", inv.bank().transfer(*args, inv.op_id))

    run(ctx, json_, action, op_id=op_id)
