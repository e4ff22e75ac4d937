"""Commands on one account, or on all of them: open, move money, read, kill, history."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from raybank.cli.app import AccountArgument, JsonOption, OpIdOption
from raybank.cli.runner import Invocation, run
from raybank.domain.errors import InvalidOption
from raybank.domain.money import parse_amount, parse_balance
from raybank.domain.names import validate_name


def create(
    ctx: typer.Context,
    name: str,
    balance: Annotated[str, typer.Option(help="Opening balance.")] = "0.00",
    min_balance: Annotated[str, typer.Option(
        "--min-balance", help="Lowest allowed balance; negative is an overdraft limit.")
    ] = "0.00",
    storage: Annotated[Optional[str], typer.Option(
        help="Storage format for this account: journal (default) or snapshot.")] = None,
    op_id: OpIdOption = None,
    json_: JsonOption = False,
) -> None:
    """Open an account.

    Example: raybank create alice --balance 100.00 --min-balance 20.00
    """
    def action(inv: Invocation) -> None:
        from raybank.service.namespace import STORAGE_KINDS

        account = validate_name(name)
        opening = parse_balance(balance, what="opening balance")
        minimum = parse_balance(min_balance, what="minimum balance", allow_negative=True)
        if storage is not None and storage not in STORAGE_KINDS:
            raise InvalidOption(f"invalid storage {storage!r}: use one of "
                                f"{', '.join(STORAGE_KINDS)}")
        inv.finish("account", inv.bank().create(account, opening, minimum, inv.op_id, storage))

    run(ctx, json_, action, op_id=op_id)


def deposit(ctx: typer.Context, name: AccountArgument, amount: str, op_id: OpIdOption = None,
            json_: JsonOption = False) -> None:
    """Add money to an account.

    Example: raybank deposit alice 25.50
    """
    def action(inv: Invocation) -> None:
        args = validate_name(name), parse_amount(amount), inv.op_id
        inv.finish("account", inv.bank().deposit(*args))

    run(ctx, json_, action, op_id=op_id)


def withdraw(ctx: typer.Context, name: AccountArgument, amount: str, op_id: OpIdOption = None,
             json_: JsonOption = False) -> None:
    """Take money from an account; it may not fall below its minimum balance.

    Example: raybank withdraw alice 10.00
    """
    def action(inv: Invocation) -> None:
        args = validate_name(name), parse_amount(amount), inv.op_id
        inv.finish("account", inv.bank().withdraw(*args))

    run(ctx, json_, action, op_id=op_id)


def balance(ctx: typer.Context, name: AccountArgument, json_: JsonOption = False) -> None:
    """Show an account's balance.

    Example: raybank balance alice
    """
    def action(inv: Invocation) -> None:
        account = validate_name(name)
        inv.finish("account", inv.bank().balance(account))

    run(ctx, json_, action)


def accounts(
    ctx: typer.Context,
    limit: Annotated[Optional[int], typer.Option(
        min=1, help="Show only the first N accounts by name (the count and total are still "
        "of every account).")] = None,
    json_: JsonOption = False,
) -> None:
    """List every account with its actor (state, pid, node, restarts, calls) and the total.

    Example: raybank accounts --limit 20
    """
    def action(inv: Invocation) -> None:
        inv.finish("accounts", inv.bank().accounts(limit))

    run(ctx, json_, action)


def kill(
    ctx: typer.Context,
    name: AccountArgument,
    restart: Annotated[bool, typer.Option(
        "--restart", help="Let Ray restart the actor; it restores its state from storage.")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Kill an account's actor process and show the account before and after.

    Without --restart the actor stays dead (INACTIVE) until a command needs it again.
    Example: raybank kill alice --restart
    """
    def action(inv: Invocation) -> None:
        account = validate_name(name)
        inv.finish("kill", inv.bank().kill(account, restart))

    run(ctx, json_, action)


def history(
    ctx: typer.Context,
    name: AccountArgument,
    limit: Annotated[Optional[int], typer.Option(
        min=0, help="Show only the last N events (still oldest first).")] = None,
    json_: JsonOption = False,
) -> None:
    """Show an account's event journal, oldest first.

    Example: raybank history alice --limit 10
    """
    def action(inv: Invocation) -> None:
        account = validate_name(name)
        inv.finish("history", inv.bank().history(account, limit))

    run(ctx, json_, action)
