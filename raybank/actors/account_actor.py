"""The Account actor: a thin Ray wrapper around the domain and its storage.

Ray reruns ``__init__`` on every restart, so the constructor *is* recovery: it rebuilds the
account from storage (never from its arguments, which only name the account). Each change
is decided by the domain, made durable by the store, and only then acknowledged; a retried
call whose op id was already applied is answered from the record instead of running again.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import ray

from raybank.domain import account as domain
from raybank.storage import audit
from raybank.domain.account import Account, AppliedOp, Event
from raybank.domain.errors import AccountNotFound, BankError, InfrastructureError
from raybank.testing.faults import AFTER_APPEND, BEFORE_APPEND, DROP_APPEND, crash_point, fires
from raybank.storage import Storage
from raybank.storage.base import AccountStore
from raybank.domain.transfer import applied_legs

F = TypeVar("F", bound=Callable[..., Any])


def counted(method: F) -> F:
    """Count calls per method: the per-account telemetry `raybank accounts` can show."""

    @functools.wraps(method)
    def wrapper(self: AccountActor, *args: Any, **kwargs: Any) -> Any:
        self._calls[method.__name__] += 1
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class AccountActor:
    """One account, alive in one process for as long as Ray keeps it there."""

    def __init__(self, home: str, namespace: str, name: str) -> None:
        self._name = name
        self._home = Path(home)
        self._namespace = namespace
        self._storage = Storage(self._home, namespace)
        self._store = self._reach(self._storage.store_for(name))
        self._account: Account | None = None
        self._calls: Counter[str] = Counter()
        self._group_commit = False  # inside apply_many: one fsync for the whole group
        try:
            self._current()
        except BankError:
            pass  # reported by the first call that needs the state, and retried then

    def _reach(self, store: AccountStore) -> AccountStore:
        """The store itself, or its proxy in a persistence actor if the namespace pools."""
        if self._storage.persistence != "pool":
            return store
        from raybank.actors.persistence_pool import PooledStore

        return PooledStore(store, self._home, self._namespace)

    def _current(self) -> Account:
        """The live state, loaded from storage on first use after a (re)start."""
        if self._account is None:
            try:
                self._account = self._store.load(self._name, repair=True)
            except AccountNotFound:
                return Account(name=self._name)  # not opened yet: `open` will create it
        return self._account

    def _drop_unacknowledged(self) -> None:
        """A write failed, so nothing since the last ack is durable: reload from disk next time."""
        self._account = None
        self._store.close(self._name)

    def _execute(self, op_id: str, request: AppliedOp,
                 decide: Callable[[Account], Event]) -> dict[str, Any]:
        """Apply one command exactly once: answer a known op id, else decide, persist, ack."""
        account = self._current()
        earlier = account.previous(op_id, request)
        if earlier is not None:
            return account.answer_for(earlier)
        event = decide(account)
        # From here until the event is durable, any failure (the append, or even the fault
        # check) must leave nothing in memory: a retry would take it for done.
        try:
            account.apply(event)
            crash_point(self._home, BEFORE_APPEND, self._name)
            if event.seq == 1 or not fires(self._home, DROP_APPEND, self._name):
                # (dropping it is a test-only defect); in a group, one sync serves them all
                self._store.append(account, event, sync=not self._group_commit)
        except BaseException:
            self._drop_unacknowledged()
            raise
        self._account = account
        crash_point(self._home, AFTER_APPEND, self._name)
        return account.summary()

    # -- commands --------------------------------------------------------------------------
    @counted
    def open(self, op_id: str, balance: Decimal, min_balance: Decimal,
             kind: str | None = None) -> dict[str, Any]:
        if kind is not None and not self._current().opened:
            self._store = self._reach(self._storage.stores[kind])
        try:
            return self._execute(
                op_id, domain.request(domain.CREATED, balance, min_balance=min_balance),
                lambda a: a.decide_open(op_id, balance, min_balance),
            )
        finally:
            if self._account is None:
                # Not opened (refused, or not durable): the format is the one on disk, if
                # any, so a refused `create --storage` leaves the next create on the default.
                self._store = self._reach(self._storage.store_for(self._name))

    @counted
    def deposit(self, op_id: str, amount: Decimal) -> dict[str, Any]:
        return self._execute(op_id, domain.request(domain.DEPOSIT, amount),
                             lambda a: a.decide_deposit(op_id, amount))

    @counted
    def withdraw(self, op_id: str, amount: Decimal) -> dict[str, Any]:
        return self._execute(op_id, domain.request(domain.WITHDRAWAL, amount),
                             lambda a: a.decide_withdrawal(op_id, amount))

    # Transfer legs: each has the op id '<transfer id>:<leg>', so a leg applies once.
    def _leg(self, leg: str, type_: str, transfer_id: str, amount: Decimal, counterparty: str,
             decide: Callable[..., Event]) -> dict[str, Any]:
        op_id = f"{transfer_id}:{leg}"
        return self._execute(op_id, domain.request(type_, amount, counterparty=counterparty),
                             lambda a: decide(a, op_id, transfer_id, amount, counterparty))

    @counted
    def hold(self, transfer_id: str, amount: Decimal, to: str) -> dict[str, Any]:
        return self._leg("hold", domain.HOLD, transfer_id, amount, to, Account.decide_hold)

    @counted
    def release(self, transfer_id: str, amount: Decimal, to: str) -> dict[str, Any]:
        return self._leg("release", domain.HOLD_RELEASED, transfer_id, amount, to,
                         Account.decide_release)

    @counted
    def transfer_out(self, transfer_id: str, amount: Decimal, to: str) -> dict[str, Any]:
        return self._leg("out", domain.TRANSFER_OUT, transfer_id, amount, to,
                         Account.decide_transfer_out)

    @counted
    def transfer_in(self, transfer_id: str, amount: Decimal, source: str) -> dict[str, Any]:
        return self._leg("in", domain.TRANSFER_IN, transfer_id, amount, source,
                         Account.decide_transfer_in)

    @counted
    def apply_many(self, calls: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Run several commands in order and make them durable with one fsync.

        Each entry's answer is its result or the BankError it raised; none is returned
        before all are on disk, and if that fails, none is acknowledged. A retried group is
        safe: every entry carries its op id.
        """
        answers: list[Any] = []
        self._group_commit = True
        try:
            for method, args in calls:
                if method not in GROUPABLE:
                    raise InfrastructureError(f"{method!r} cannot run in a group", "bad-group")
                try:
                    answers.append(getattr(self, method)(*args))
                except InfrastructureError:
                    raise  # storage failed: the whole group is unacknowledged
                except BankError as error:
                    answers.append(error)
            self._store.sync(self._name)
        except BaseException:
            self._drop_unacknowledged()
            raise
        finally:
            self._group_commit = False
        return answers

    # -- inspection ------------------------------------------------------------------------
    @counted
    def summary(self) -> dict[str, Any]:
        account = self._current()
        account.check_opened()
        return account.summary()

    @counted
    def fingerprint(self) -> dict[str, Any]:
        """The whole live state in a small comparable form, for `verify` (raybank/storage/audit.py)."""
        return audit.fingerprint(self._current())

    @counted
    def listing(self, transfer_ids: list[str]) -> dict[str, Any]:
        """What `raybank accounts` shows of this account -- the summary, this process, and
        which of these transfers' money legs (``in``, ``out``) it has applied -- in one
        atomic read, so that the listing's total counts each transfer once."""
        account = self._current()
        account.check_opened()
        return {"summary": account.summary(), "process": self.process(),
                "legs": applied_legs(account.applied, transfer_ids)}

    def process(self) -> dict[str, Any]:
        """Where this incarnation runs, and what it has been asked since it started."""
        context = ray.get_runtime_context()
        return {"pid": os.getpid(), "node_id": context.get_node_id(),
                "calls": dict(self._calls)}

    def passivate(self) -> None:
        """Let go of open files before the actor is killed for good."""
        self._store.close(self._name)
        self._account = None


GROUPABLE = frozenset({"open", "deposit", "withdraw", "summary"})


RemoteAccountActor = ray.remote(AccountActor)
