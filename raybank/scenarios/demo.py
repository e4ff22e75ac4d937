"""`raybank demo`: a guided tour that checks itself, in a namespace of its own.

Each step is a real command on real actors; the demo records what each returned and whether
that was what a careful bank must do. It never touches the user's accounts and removes its
own afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from raybank.domain.errors import BankError, InsufficientFunds, error_object
from raybank.domain.names import new_op_id

if TYPE_CHECKING:
    from raybank.service.bank import Bank
    from raybank.service.results import Account

DEMO_PREFIX = "raybank-demo-"
ALICE, BOB = "alice", "bob"


def run_demo(bank: Bank) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []

    def step(command: str, view: str, call: Callable[[], Any],
             expect: Callable[[Any], bool] | None = None,
             refused_with: str | None = None, op_id: str | None = None) -> None:
        record: dict[str, Any] = {"command": command, "view": view}
        try:
            result = call()
            record["result"] = result.to_contract()  # what the CLI prints for the step
            record["ok"] = refused_with is None and (expect is None or expect(result))
        except BankError as error:
            if op_id is not None:  # as the CLI does: the error names what repeats it
                error.about(op_id, op_id if view == "transfer" else None)
            record["error"] = error_object(error)
            record["ok"] = error.code == refused_with
        steps.append(record)

    def change(command: str, view: str, call: Callable[[str], Any],
               expect: Callable[[Any], bool] | None = None,
               refused_with: str | None = None) -> None:
        """A step of a mutating command, run with a fresh op id."""
        op_id = new_op_id()
        step(command, view, lambda: call(op_id), expect, refused_with, op_id)

    def balance_is(amount: str) -> Callable[[Account], bool]:
        return lambda result: result.balance == Decimal(amount)

    try:
        change(f"create {ALICE} --balance 100.00 --min-balance 20.00", "account",
               lambda op: bank.create(ALICE, Decimal("100.00"), Decimal("20.00"), op),
               balance_is("100.00"))
        change(f"create {BOB}", "account",
               lambda op: bank.create(BOB, Decimal("0.00"), Decimal("0.00"), op),
               balance_is("0.00"))
        change(f"deposit {ALICE} 50.00", "account",
               lambda op: bank.deposit(ALICE, Decimal("50.00"), op), balance_is("150.00"))
        change(f"withdraw {ALICE} 30.00", "account",
               lambda op: bank.withdraw(ALICE, Decimal("30.00"), op), balance_is("120.00"))
        change(f"withdraw {ALICE} 500.00", "account",
               lambda op: bank.withdraw(ALICE, Decimal("500.00"), op),
               refused_with=InsufficientFunds.code)
        step(f"kill {ALICE} --restart", "kill", lambda: bank.kill(ALICE, restart=True),
             lambda result: (result.recovered
                             and result.after.account.balance == Decimal("120.00")))
        step(f"balance {ALICE}", "account", lambda: bank.balance(ALICE), balance_is("120.00"))
        change(f"transfer {ALICE} {BOB} 25.00", "transfer",
               lambda op: bank.transfer(ALICE, BOB, Decimal("25.00"), op),
               lambda result: (result.source.balance, result.target.balance)
               == (Decimal("95.00"), Decimal("25.00")))
        step("accounts", "accounts", bank.accounts,
             lambda result: len(result.accounts) == 2)
    finally:
        try:
            bank.remove_namespace([ALICE, BOB])
        except BankError:
            pass  # best effort: the tour's outcome is what the user asked for
    return {"namespace": bank.namespace, "steps": steps,
            "ok": all(step["ok"] for step in steps)}
