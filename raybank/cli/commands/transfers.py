"""The transfer command: money between two accounts, atomically, once per op id."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from raybank.cli.app import JsonOption, OpIdOption
from raybank.cli.runner import Invocation, run
from raybank.domain.money import parse_amount
from raybank.domain.names import validate_name


def transfer(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="FROM")],
    target: Annotated[str, typer.Argument(metavar="TO")],
    amount: Annotated[str, typer.Argument(metavar="AMT")],
    op_id: OpIdOption = None,
    fail_at: Annotated[Optional[str], typer.Option("--fail-at", hidden=True)] = None,
    json_: JsonOption = False,
) -> None:
    """Move money atomically from one account to another, exactly once per op id.

    Example: raybank transfer alice bob 25.00
    """
    def action(inv: Invocation) -> None:
        from raybank.domain.transfer import parse_fault

        args = validate_name(source), validate_name(target), parse_amount(amount)
        fault = None if fail_at is None else parse_fault(fail_at)  # testing aid only
        inv.finish("transfer", inv.bank().transfer(*args, inv.op_id, fault=fault))

    run(ctx, json_, action, op_id=op_id)
