"""An account's rules and history: guards decide, events record, state is their fold.

Pure Python: no Ray, no files. A change is made in two steps so that storage can sit
between them: ``decide_*`` checks the named guards and returns the event the change *would*
record (raising ``RuleViolation`` otherwise), the caller makes that event durable, and only
then ``apply`` folds it into the state. A crash between the two loses nothing acknowledged.

Every event carries the op id of the command that caused it. The account remembers which op
ids it has applied (with what they did), so a retried command is answered from that record
instead of running twice: that is what makes Ray's at-least-once retries exactly-once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from raybank.domain.errors import (
    AccountExists,
    AccountNotFound,
    BelowMinimum,
    InsufficientFunds,
    NoSuchHold,
    OpIdReused,
    StorageCorrupt,
    StorageError,
)
from raybank.domain.money import ZERO, format_money

CREATED = "created"
DEPOSIT = "deposit"
WITHDRAWAL = "withdrawal"
HOLD = "hold"
HOLD_RELEASED = "hold_released"
TRANSFER_IN = "transfer_in"
TRANSFER_OUT = "transfer_out"
EVENT_TYPES = (CREATED, DEPOSIT, WITHDRAWAL, HOLD, HOLD_RELEASED, TRANSFER_IN, TRANSFER_OUT)
LEG_TYPES = (HOLD, HOLD_RELEASED, TRANSFER_IN, TRANSFER_OUT)  # carry transfer id, counterparty
# How each event after the opening one moves the balance: by +amount, -amount or not at all.
_SIGN = {DEPOSIT: 1, TRANSFER_IN: 1, WITHDRAWAL: -1, TRANSFER_OUT: -1, HOLD: 0, HOLD_RELEASED: 0}


@dataclass(frozen=True)
class Event:
    """Something that happened to one account; ``balance`` is the balance right after it."""

    seq: int
    op_id: str
    type: str
    amount: Decimal | None
    balance: Decimal
    at: str
    min_balance: Decimal | None = None  # created only
    transfer_id: str | None = None  # transfer legs and holds
    counterparty: str | None = None  # the other account of a transfer leg



def now_iso() -> str:
    """The current time as ISO-8601 UTC, as events record it."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AppliedOp:
    """What an op id did, enough to recognise a retry and answer it with the first result."""

    type: str
    amount: Decimal | None
    balance: Decimal
    counterparty: str | None = None
    min_balance: Decimal | None = None

    def same_request(self, other: AppliedOp) -> bool:
        return (self.type, self.amount, self.counterparty, self.min_balance) == (
            other.type,
            other.amount,
            other.counterparty,
            other.min_balance,
        )


@dataclass
class Account:
    """The state of one account: the fold of its events."""

    name: str
    balance: Decimal = ZERO
    min_balance: Decimal = ZERO
    seq: int = 0
    holds: dict[str, Decimal] = field(default_factory=dict)
    applied: dict[str, AppliedOp] = field(default_factory=dict)

    # -- reading -------------------------------------------------------------------------
    @property
    def opened(self) -> bool:
        return self.seq > 0

    @property
    def held(self) -> Decimal:
        return sum(self.holds.values(), ZERO)

    @property
    def available(self) -> Decimal:
        """What may still leave the account: balance less holds, down to the minimum."""
        return self.balance - self.held - self.min_balance

    def summary(self) -> dict[str, Any]:
        """The account's public state as plain data: what actors answer with (it crosses Ray
        as it is); the service reads it as a typed ``results.Account``."""
        result: dict[str, Any] = {
            "name": self.name,
            "balance": self.balance,
            "min_balance": self.min_balance,
        }
        if self.holds:
            result["held"] = self.held
        return result

    def answer_for(self, op: AppliedOp) -> dict[str, Any]:
        """The first result of an op id, marked as a duplicate."""
        return {"name": self.name, "balance": op.balance, "min_balance": self.min_balance,
                "duplicate": True}

    # -- guards ----------------------------------------------------------------------------
    def check_opened(self) -> None:
        if not self.opened:
            raise AccountNotFound(f"no account named {self.name!r}")

    def check_not_opened(self) -> None:
        if self.opened:
            raise AccountExists(f"account {self.name!r} already exists")

    def check_sufficient_funds(self, amount: Decimal) -> None:
        if amount > self.available:
            raise InsufficientFunds(
                f"insufficient funds in {self.name!r}: {format_money(amount)} requested, "
                f"{format_money(max(self.available, ZERO))} available above the minimum "
                f"balance of {format_money(self.min_balance)}",
            )

    def check_hold(self, transfer_id: str, amount: Decimal) -> None:
        if self.holds.get(transfer_id) != amount:
            raise NoSuchHold(
                f"no hold of {format_money(amount)} for transfer {transfer_id!r} on {self.name!r}",
            )

    def previous(self, op_id: str, request: AppliedOp) -> AppliedOp | None:
        """The earlier application of ``op_id``, or None; refuses reuse for another request."""
        earlier = self.applied.get(op_id)
        if earlier is not None and not earlier.same_request(request):
            raise OpIdReused(
                f"op id {op_id!r} was already used on {self.name!r} for a different request",
            )
        return earlier

    # -- decisions: guards, then the event to record ----------------------------------------
    def _event(self, op_id: str, type_: str, amount: Decimal | None, balance: Decimal,
               **extra: Any) -> Event:
        return Event(seq=self.seq + 1, op_id=op_id, type=type_, amount=amount, balance=balance,
                     at=now_iso(), **extra)

    def decide_open(self, op_id: str, balance: Decimal, min_balance: Decimal) -> Event:
        self.check_not_opened()
        if balance < min_balance:
            raise BelowMinimum(
                f"opening balance {format_money(balance)} is below the minimum balance "
                f"{format_money(min_balance)}",
            )
        return self._event(op_id, CREATED, balance, balance, min_balance=min_balance)

    def decide_deposit(self, op_id: str, amount: Decimal) -> Event:
        self.check_opened()
        return self._event(op_id, DEPOSIT, amount, self.balance + amount)

    def decide_withdrawal(self, op_id: str, amount: Decimal) -> Event:
        self.check_opened()
        self.check_sufficient_funds(amount)
        return self._event(op_id, WITHDRAWAL, amount, self.balance - amount)

    def decide_hold(self, op_id: str, transfer_id: str, amount: Decimal, to: str) -> Event:
        """Reserve money for an outgoing transfer: it can no longer be withdrawn."""
        self.check_opened()
        self.check_sufficient_funds(amount)
        return self._event(op_id, HOLD, amount, self.balance, transfer_id=transfer_id,
                           counterparty=to)

    def decide_release(self, op_id: str, transfer_id: str, amount: Decimal, to: str) -> Event:
        """Give back a hold whose transfer was called off."""
        self.check_opened()
        self.check_hold(transfer_id, amount)
        return self._event(op_id, HOLD_RELEASED, amount, self.balance, transfer_id=transfer_id,
                           counterparty=to)

    def decide_transfer_out(self, op_id: str, transfer_id: str, amount: Decimal,
                            to: str) -> Event:
        """Settle a hold: the held money leaves the account."""
        self.check_opened()
        self.check_hold(transfer_id, amount)
        return self._event(op_id, TRANSFER_OUT, amount, self.balance - amount,
                           transfer_id=transfer_id, counterparty=to)

    def decide_transfer_in(self, op_id: str, transfer_id: str, amount: Decimal,
                           source: str) -> Event:
        self.check_opened()
        return self._event(op_id, TRANSFER_IN, amount, self.balance + amount,
                           transfer_id=transfer_id, counterparty=source)

    # -- the fold --------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        """Fold one event into the state.

        Storage calls this on replay, so it checks that the event follows the last one and
        that its balance adds up; live, after a ``decide_*``, every check holds by
        construction. A stored history that fails one is corrupt, and nothing is folded.
        """
        self._check_follows(event)
        if event.type == CREATED:
            self.min_balance = event.min_balance if event.min_balance is not None else ZERO
        elif event.type == HOLD:
            self.holds[event.transfer_id or ""] = event.amount or ZERO
        elif event.type in (HOLD_RELEASED, TRANSFER_OUT):
            self.holds.pop(event.transfer_id or "", None)
        self.balance = event.balance
        self.seq = event.seq
        self.applied[event.op_id] = applied_op_of(event)

    def _check_follows(self, event: Event) -> None:
        def corrupt(why: str) -> StorageError:
            return StorageCorrupt(f"event {event.seq} of {self.name!r} {why}")

        if event.seq != self.seq + 1:
            raise corrupt(f"does not follow event {self.seq}")
        if (event.type == CREATED) != (event.seq == 1):
            raise corrupt("is not the account's one opening event" if event.type == CREATED
                          else "comes before the account was opened")
        if event.op_id in self.applied:
            raise corrupt(f"repeats op id {event.op_id!r}")
        if event.amount is None:
            raise corrupt("has no amount")
        if event.type != CREATED and event.amount <= 0:
            raise corrupt(f"moves {format_money(event.amount)}, not a positive amount")
        expected = (event.amount if event.type == CREATED
                    else self.balance + _SIGN[event.type] * event.amount)
        if event.balance != expected:
            raise corrupt(f"says balance {format_money(event.balance)} after "
                          f"{format_money(self.balance)} and a {event.type} of "
                          f"{format_money(event.amount)}")
        if event.type in LEG_TYPES and event.transfer_id is None:
            raise corrupt("has no transfer id")
        if event.type == HOLD and event.transfer_id in self.holds:
            raise corrupt(f"holds money for transfer {event.transfer_id!r} twice")
        if (event.type in (HOLD_RELEASED, TRANSFER_OUT)
                and self.holds.get(event.transfer_id or "") != event.amount):
            raise corrupt(f"settles or releases a hold of {format_money(event.amount)} for "
                          f"transfer {event.transfer_id!r} that the account does not have")


def applied_op_of(event: Event) -> AppliedOp:
    """What an event tells a later retry of the same op id."""
    return AppliedOp(type=event.type, amount=event.amount, balance=event.balance,
                     counterparty=event.counterparty, min_balance=event.min_balance)


def request(type_: str, amount: Decimal | None, *, counterparty: str | None = None,
            min_balance: Decimal | None = None) -> AppliedOp:
    """Describe a command the way ``applied`` remembers it, to compare with earlier uses."""
    return AppliedOp(type=type_, amount=amount, balance=ZERO, counterparty=counterparty,
                     min_balance=min_balance)


def replay(name: str, events: list[Event], start: Account | None = None) -> Account:
    """Rebuild an account from its events (after an optional snapshot)."""
    account = start if start is not None else Account(name=name)
    for event in events:
        account.apply(event)
    return account
