"""One account in memory: the exactly-once core that any host of accounts reuses.

No Ray here. A ``LiveAccount`` loads its state from storage on first use, answers a known op
id from the record, lets the domain decide a change, makes the event durable, and only then
acknowledges it; a failed write drops everything not yet durable, so the next use reloads
from disk. Several changes can share one sync (a group commit). ``AccountActor`` hosts one
LiveAccount per Ray actor; a host of many accounts keeps one per account it has active and
calls the same methods (docs/design.md, "Hosted placement").
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from raybank.domain import account as domain
from raybank.domain.account import Account, AppliedOp, Event
from raybank.domain.errors import AccountNotFound, BadGroup, BankError, InfrastructureError
from raybank.domain.transfer import applied_legs
from raybank.storage import audit
from raybank.storage.base import AccountStore
from raybank.testing.faults import AFTER_APPEND, BEFORE_APPEND, DROP_APPEND, crash_point, fires

# The commands a group may hold: each answers from the account alone.
GROUPABLE = frozenset({"open", "deposit", "withdraw", "summary",
                       "hold", "release", "transfer_out", "transfer_in"})
StoreFor = Callable[[str | None], AccountStore]


class LiveAccount:
    """The state of one account and the only path by which it changes."""

    def __init__(self, name: str, store_for: StoreFor, home: Path) -> None:
        """``store_for(kind)`` gives the store of a storage format, or with None the store
        that holds this account (the default one if it has none yet)."""
        self.name = name
        self._store_for = store_for
        self._home = home  # where fault markers are armed (testing aid)
        self._store = store_for(None)
        self._account: Account | None = None
        self._group_commit = False  # inside apply_many: one sync for the whole group

    def state(self) -> Account:
        """The live state, loaded from storage on first use after a (re)start."""
        if self._account is None:
            try:
                self._account = self._store.load(self.name, repair=True)
            except AccountNotFound:
                return Account(name=self.name)  # not opened yet: `open` will create it
        return self._account

    def warm(self) -> None:
        """Load the state now if it can be; an error waits for the first call that needs it."""
        try:
            self.state()
        except BankError:
            pass

    def drop_unacknowledged(self) -> None:
        """A write failed, so nothing since the last ack is durable: reload from disk next time."""
        self._account = None
        self._store.close(self.name)

    def _execute(self, op_id: str, request: AppliedOp,
                 decide: Callable[[Account], Event]) -> dict[str, Any]:
        """Apply one command exactly once: answer a known op id, else decide, persist, ack."""
        account = self.state()
        earlier = account.previous(op_id, request)
        if earlier is not None:
            return account.answer_for(earlier)
        event = decide(account)
        # From here until the event is durable, any failure (the append, or even the fault
        # check) must leave nothing in memory: a retry would take it for done.
        try:
            account.apply(event)
            crash_point(self._home, BEFORE_APPEND, self.name)
            if event.seq == 1 or not fires(self._home, DROP_APPEND, self.name):
                # (dropping it is a test-only defect); in a group, one sync serves them all
                self._store.append(account, event, sync=not self._group_commit)
        except BaseException:
            self.drop_unacknowledged()
            raise
        self._account = account
        crash_point(self._home, AFTER_APPEND, self.name)
        return account.summary()

    # -- commands --------------------------------------------------------------------------
    def open(self, op_id: str, balance: Decimal, min_balance: Decimal,
             kind: str | None = None) -> dict[str, Any]:
        if kind is not None and not self.state().opened:
            self._store = self._store_for(kind)
        try:
            return self._execute(
                op_id, domain.request(domain.CREATED, balance, min_balance=min_balance),
                lambda a: a.decide_open(op_id, balance, min_balance),
            )
        finally:
            if self._account is None:
                # Not opened (refused, or not durable): the format is the one on disk, if
                # any, so a refused `create --storage` leaves the next create on the default.
                self._store = self._store_for(None)

    def deposit(self, op_id: str, amount: Decimal) -> dict[str, Any]:
        return self._execute(op_id, domain.request(domain.DEPOSIT, amount),
                             lambda a: a.decide_deposit(op_id, amount))

    def withdraw(self, op_id: str, amount: Decimal) -> dict[str, Any]:
        return self._execute(op_id, domain.request(domain.WITHDRAWAL, amount),
                             lambda a: a.decide_withdrawal(op_id, amount))

    # Transfer legs: each has the op id '<transfer id>:<leg>', so a leg applies once.
    def _leg(self, leg: str, type_: str, transfer_id: str, amount: Decimal, counterparty: str,
             decide: Callable[..., Event]) -> dict[str, Any]:
        op_id = f"{transfer_id}:{leg}"
        return self._execute(op_id, domain.request(type_, amount, counterparty=counterparty),
                             lambda a: decide(a, op_id, transfer_id, amount, counterparty))

    def hold(self, transfer_id: str, amount: Decimal, to: str) -> dict[str, Any]:
        return self._leg("hold", domain.HOLD, transfer_id, amount, to, Account.decide_hold)

    def release(self, transfer_id: str, amount: Decimal, to: str) -> dict[str, Any]:
        return self._leg("release", domain.HOLD_RELEASED, transfer_id, amount, to,
                         Account.decide_release)

    def transfer_out(self, transfer_id: str, amount: Decimal, to: str) -> dict[str, Any]:
        return self._leg("out", domain.TRANSFER_OUT, transfer_id, amount, to,
                         Account.decide_transfer_out)

    def transfer_in(self, transfer_id: str, amount: Decimal, source: str) -> dict[str, Any]:
        return self._leg("in", domain.TRANSFER_IN, transfer_id, amount, source,
                         Account.decide_transfer_in)

    def apply_many(self, calls: list[tuple[str, tuple[Any, ...]]], *, sync: bool = True
                   ) -> list[Any]:
        """Run several commands in order and make them durable with one sync.

        Each entry's answer is its result or the BankError it raised; none is returned
        before all are on disk, and if that fails, none is acknowledged. A retried group is
        safe: every entry carries its op id. With ``sync=False`` the caller syncs the
        store for many accounts at once, answers nothing before that, and calls
        ``drop_unacknowledged`` if it fails (a host's ``apply_groups``).
        """
        answers: list[Any] = []
        self._group_commit = True
        try:
            for method, args in calls:
                if method not in GROUPABLE:
                    raise BadGroup(f"{method!r} cannot run in a group")
                try:
                    answers.append(getattr(self, method)(*args))
                except InfrastructureError:
                    raise  # storage failed: the whole group is unacknowledged
                except BankError as error:
                    answers.append(error)
            if sync:
                self._store.sync(self.name)
        except BaseException:
            self.drop_unacknowledged()
            raise
        finally:
            self._group_commit = False
        return answers

    # -- inspection ------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        account = self.state()
        account.check_opened()
        return account.summary()

    def fingerprint(self) -> dict[str, Any]:
        """The whole live state in a small comparable form, for `verify` (storage/audit.py)."""
        return audit.fingerprint(self.state())

    def listing(self, transfer_ids: list[str]) -> dict[str, Any]:
        """The summary and which of these transfers' money legs (``in``, ``out``) the
        account has applied, read at one moment: what a consistent total needs."""
        account = self.state()
        account.check_opened()
        return {"summary": account.summary(),
                "legs": applied_legs(account.applied, transfer_ids)}

    def passivate(self) -> None:
        """Let go of memory and open files; the next use reloads from storage."""
        self._store.close(self.name)
        self._account = None
