"""A transfer's life as the coordinator records it: states, allowed moves, outcomes.

Pure Python: no Ray, no files. The coordinator makes each new state durable *before* it
takes the next step, so after a crash the newest record of a transfer says exactly which
leg to (re)drive; every leg is idempotent by its derived op id, so re-driving is safe.

    begun ──hold──> held ──credit──> credited ──settle──> committed
      │               │
      │ hold refused  │ credit impossible
      v               v
    aborted <─release─ aborting
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from raybank.domain.errors import (
    BankError,
    ExitStatus,
    InfrastructureError,
    OpIdReused,
    TransferUnfinished,
)
from raybank.domain.error_registry import rebuilt
from raybank.domain.money import ZERO, format_money

BEGUN, HELD, CREDITED, COMMITTED = "begun", "held", "credited", "committed"
ABORTING, ABORTED = "aborting", "aborted"
STATES = (BEGUN, HELD, CREDITED, COMMITTED, ABORTING, ABORTED)
ENDED = (COMMITTED, ABORTED)
NEXT: dict[str, tuple[str, ...]] = {
    BEGUN: (HELD, ABORTED),
    HELD: (CREDITED, ABORTING),
    CREDITED: (COMMITTED,),
    ABORTING: (ABORTED,),
    COMMITTED: (),
    ABORTED: (),
}

# The two legs that move money; each account records a leg as applied under its derived op id.
IN_LEG, OUT_LEG = "in", "out"


def side(summary: dict[str, Any]) -> dict[str, Any]:
    """The contract's account object out of an actor's answer (dropping holds, duplicates)."""
    return {"name": summary["name"], "balance": Decimal(summary["balance"]),
            "min_balance": Decimal(summary["min_balance"])}


@dataclass(frozen=True)
class TransferRecord:
    """The newest known state of one transfer; ``request`` tells a Ray retry from a repeat."""

    transfer_id: str
    source: str
    target: str
    amount: Decimal
    state: str
    request: str
    error: dict[str, Any] | None = None  # why it was aborted: exit code, code, message
    source_after: dict[str, Any] | None = None  # the source right after the settle
    target_after: dict[str, Any] | None = None  # the target right after the credit

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def check_same(self, source: str, target: str, amount: Decimal) -> None:
        if (self.source, self.target, self.amount) != (source, target, amount):
            raise OpIdReused(
                f"op id {self.transfer_id!r} was already used for a transfer of "
                f"{format_money(self.amount)} from {self.source!r} to {self.target!r}",
            )

    def _to(self, state: str, **changes: Any) -> TransferRecord:
        if state not in NEXT[self.state]:
            raise ValueError(f"transfer {self.transfer_id!r} cannot go from {self.state} "
                             f"to {state}")
        return replace(self, state=state, **changes)

    def held(self) -> TransferRecord:
        return self._to(HELD)

    def credited(self, target_after: dict[str, Any]) -> TransferRecord:
        return self._to(CREDITED, target_after=side(target_after))

    def committed(self, source_after: dict[str, Any]) -> TransferRecord:
        return self._to(COMMITTED, source_after=side(source_after))

    def refused(self, error: BankError) -> TransferRecord:
        """Called off: straight to aborted before a hold, through aborting after one."""
        why = {"exit": int(error.exit_code), "code": error.code, "message": error.message}
        return self._to(ABORTED if self.state == BEGUN else ABORTING, error=why)

    def released(self) -> TransferRecord:
        return self._to(ABORTED)

    def outcome(self, duplicate: bool) -> dict[str, Any]:
        """The command's answer for an ended transfer: its result, or its refusal raised."""
        if self.state == ABORTED:
            raise refusal(self.error or {})
        if self.state != COMMITTED:
            raise ValueError(f"transfer {self.transfer_id!r} has not ended ({self.state})")
        result = {"transfer_id": self.transfer_id, "amount": self.amount,
                  "from": self.source_after, "to": self.target_after}
        if duplicate:
            result["duplicate"] = True
        return result



def begin(transfer_id: str, source: str, target: str, amount: Decimal,
          request: str) -> TransferRecord:
    return TransferRecord(transfer_id, source, target, amount, BEGUN, request)


def unfinished(transfer_id: str, cause: BaseException) -> InfrastructureError:
    """The error of a transfer that met a failure mid-way: it is not over, only delayed.

    The coordinator keeps driving it in the background; the caller learns its outcome by
    repeating the command with the same op id (the error carries it, exit 4).
    """
    reason = cause.message if isinstance(cause, BankError) else f"{type(cause).__name__}: {cause}"
    return TransferUnfinished(
        f"transfer {transfer_id!r} is not finished yet ({reason}); raybank keeps driving it "
        f"and will finish it in the background")


def refusal(error: dict[str, Any]) -> BankError:
    """The BankError a recorded refusal stands for, so a repeat is refused the same way."""
    return rebuilt(error.get("code"), str(error.get("message", "transfer refused")),
                   error.get("exit", ExitStatus.INFRASTRUCTURE))


# -- a consistent total (docs/transfers.md, "A consistent total") --------------------------

@dataclass(frozen=True)
class InFlight:
    """An unended transfer as a reader of the accounts needs it: who pays whom, how much."""

    transfer_id: str
    source: str
    target: str
    amount: Decimal


def leg_op_id(transfer_id: str, leg: str) -> str:
    """The op id an account records a transfer leg under: user op ids have no ':'."""
    return f"{transfer_id}:{leg}"


def applied_legs(applied: Container[str], transfer_ids: Sequence[str]) -> dict[str, list[str]]:
    """Which of these transfers' money legs an account has applied, by its applied op ids."""
    return {leg: [tid for tid in transfer_ids if leg_op_id(tid, leg) in applied]
            for leg in (IN_LEG, OUT_LEG)}


def consistent_total(balances: Mapping[str, Decimal], in_flight: Iterable[InFlight],
                     legs: Mapping[str, Mapping[str, Collection[str]]]) -> Decimal:
    """The sum of the balances with each unended transfer counted exactly once.

    A transfer's money is in its source's balance until the source applies ``out``, and in
    its target's once the target applies ``in``; each account was read atomically with the
    legs it had applied (``legs[name]``), so the reads counted it 0, 1 or 2 times. A transfer
    with an account that was not read (created or deleted meanwhile) is left as read.
    """
    total = sum(balances.values(), ZERO)
    for transfer in in_flight:
        source, target = legs.get(transfer.source), legs.get(transfer.target)
        if source is None or target is None:
            continue
        counted = ((transfer.transfer_id not in source[OUT_LEG])
                   + (transfer.transfer_id in target[IN_LEG]))
        total += transfer.amount * (1 - counted)
    return total
