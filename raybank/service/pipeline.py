"""Batch's explicit pipeline: commands queued per account, sent as one group each.

`raybank batch` runs each line through the same command code as the command line, but a
line that makes exactly one call to one account (create, deposit, withdraw, balance) is
given this pipeline instead of the bank: the same methods, answering a ``PipelineItem``
instead of waiting. ``flush`` sends each account's queue as one ``apply_many``: one round
trip and one sync per account, in order, while different accounts proceed in parallel.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from raybank.domain.errors import BankError
from raybank.routing.call import Call
from raybank.service import results

if TYPE_CHECKING:
    from raybank.service.bank import Bank


class Pipeline:
    """The pipelined commands of one batch, queued until ``flush``."""

    def __init__(self, bank: Bank) -> None:
        self.bank = bank
        self._groups: dict[str, Group] = {}

    def _queue(self, name: str, method: str, *args: Any, creating: bool = False
               ) -> PipelineItem:
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = Group(self.bank, name)
        return group.add(method, args, creating)

    def create(self, name: str, balance: Decimal, min_balance: Decimal, op_id: str,
               kind: str | None = None) -> PipelineItem:
        self.bank.storage.choose_persistence(self.bank.persistence)
        return self._queue(name, "open", op_id, balance, min_balance, kind, creating=True)

    def deposit(self, name: str, amount: Decimal, op_id: str) -> PipelineItem:
        return self._queue(name, "deposit", op_id, amount)

    def withdraw(self, name: str, amount: Decimal, op_id: str) -> PipelineItem:
        return self._queue(name, "withdraw", op_id, amount)

    def balance(self, name: str) -> PipelineItem:
        return self._queue(name, "summary")

    def flush(self) -> None:
        """Send every queued group: one actor call and one sync per account."""
        groups, self._groups = self._groups, {}
        for group in groups.values():
            group.send()


class Group:
    """Calls queued for one account, sent as one ``apply_many``.

    The actor runs them in order and answers each with its result or its BankError. If a
    create in the group was refused and the account still does not exist, the actor the
    group started is retired: a refused create leaves no actor behind, in batch too.
    """

    def __init__(self, bank: Bank, name: str) -> None:
        self.bank, self.name = bank, name
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.creating = False
        self._call: Call | None = None
        self._answers: list[Any] | None = None
        self._error: BankError | None = None
        self._sent = threading.Event()  # answers() may be awaited in another thread
        self._lock = threading.Lock()

    def add(self, method: str, args: tuple[Any, ...], creating: bool) -> PipelineItem:
        self.calls.append((method, args))
        self.creating = self.creating or creating
        return PipelineItem(self, len(self.calls) - 1)

    def send(self) -> None:
        try:
            self._call = self.bank.routing.submit(self.name, "apply_many", self.calls,
                                                  creating=self.creating)
        except BankError as error:  # e.g. no such account: every call gets the answer
            self._error = error
        finally:
            self._sent.set()

    def answers(self) -> list[Any]:
        """Wait until the group is sent and answered."""
        self._sent.wait()
        with self._lock:
            if self._answers is None and self._error is None and self._call is not None:
                try:
                    self._answers = self._call.result()
                except BankError as error:
                    self._error = error
                if self.creating:
                    self.bank.retire_unopened(self.name)
        if self._error is not None:
            raise self._error
        return self._answers or []


class PipelineItem:
    """One queued command; ``result()`` waits for its group and answers what the Bank's
    method would have (every pipelined command answers an account)."""

    def __init__(self, group: Group, index: int) -> None:
        self.group, self.index = group, index

    def result(self) -> results.Account:
        answer = self.group.answers()[self.index]
        if isinstance(answer, BaseException):
            raise answer
        return results.Account.from_contract(answer)
