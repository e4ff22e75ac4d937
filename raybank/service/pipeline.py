"""Batch's explicit pipeline: commands queued per account, sent as one group each.

`raybank batch` runs each line through the same command code as the command line, but a
line that makes exactly one call to one account (create, deposit, withdraw, balance) is
given this pipeline instead of the bank: the same methods, answering a ``PipelineItem``
instead of waiting. ``flush`` sends each account's queue as one ``apply_many``: one round
trip and one sync per account, in order, while different accounts proceed in parallel. In
hosted placement all the groups of one host travel in one ``apply_groups``.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from raybank.domain.errors import BankError
from raybank.service import results

if TYPE_CHECKING:
    from raybank.service.bank import Bank


class Answer(Protocol):
    """A group on its way: a ``Call`` of ``apply_many``, or an account's share of a
    host's ``apply_groups``."""

    def result(self) -> list[Any]: ...


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
        self.bank.choose_layout()
        return self._queue(name, "open", op_id, balance, min_balance, kind, creating=True)

    def deposit(self, name: str, amount: Decimal, op_id: str) -> PipelineItem:
        return self._queue(name, "deposit", op_id, amount)

    def withdraw(self, name: str, amount: Decimal, op_id: str) -> PipelineItem:
        return self._queue(name, "withdraw", op_id, amount)

    def balance(self, name: str) -> PipelineItem:
        return self._queue(name, "summary")

    def flush(self) -> None:
        """Send every queued group: one call per account's actor, or in hosted placement
        one call per host for all its accounts' groups; one sync per account either way."""
        groups, self._groups = self._groups, {}
        if not groups:
            return
        try:
            sent = self.bank.routing.submit_groups(
                {name: (group.calls, group.creating) for name, group in groups.items()})
        except BankError as error:  # nothing could be sent: every group gets the answer
            sent = dict.fromkeys(groups, error)
        for name, group in groups.items():
            group.sent(sent[name])


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
        self._call: Answer | None = None
        self._answers: list[Any] | None = None
        self._error: BankError | None = None
        self._sent = threading.Event()  # answers() may be awaited in another thread
        self._lock = threading.Lock()

    def add(self, method: str, args: tuple[Any, ...], creating: bool) -> PipelineItem:
        self.calls.append((method, args))
        self.creating = self.creating or creating
        return PipelineItem(self, len(self.calls) - 1)

    def sent(self, outcome: Answer | BankError) -> None:
        """The group is on its way (``outcome.result()`` answers it), or could not be sent
        (e.g. no such account: every call gets that error)."""
        if isinstance(outcome, BankError):
            self._error = outcome
        else:
            self._call = outcome
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
                if self.creating and self._open_refused():
                    self.bank.retire_unopened(self.name)
        if self._error is not None:
            raise self._error
        return self._answers or []


    def _open_refused(self) -> bool:
        """Whether an ``open`` of the group was refused, or the whole group: only then can
        the group have started an actor for an account that does not exist (checking
        every create would cost a round trip per account)."""
        if self._answers is None:
            return True
        return any(isinstance(answer, BankError)
                   for (method, _), answer in zip(self.calls, self._answers)
                   if method == "open")


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
