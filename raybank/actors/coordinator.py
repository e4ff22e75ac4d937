"""The transfer coordinator: one named, detached actor per namespace that owns transfers.

It records each transfer's state durably (``TransferLog``) before taking the step that
state announces, and drives the legs on the account actors: hold on the source, credit the
destination, settle the source -- or release the hold if the transfer is called off. Accounts
never call back, so there is no cycle to deadlock on; the coordinator runs calls in threads
so transfers proceed side by side, with one lock per transfer id.

Every transfer that has not ended is driven to its end by the live coordinator: a transfer
that meets an infrastructure error (storage, an actor away) is handed to the background
re-drive loop, which retries it until it ends, and so are all unended transfers found in the
log when Ray reruns ``__init__`` after a crash. A reader of the accounts can pause the legs
for a moment (``pause``/``resume``) to read every account at one consistent cut.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import ray

from raybank.actors.coordination import LegGate, Redrive
from raybank.actors.routes import routing_for
from raybank.domain.errors import (
    AccountNotFound,
    BankError,
    InjectedFault,
    RuleViolation,
    StorageError,
    TransferStuck,
)
from raybank.testing import faults
from raybank.routing.accounts import AccountRouting, Group
from raybank.routing.hosted import HostedRouting
from raybank.storage import Storage
from raybank.storage.placement import Placement, read_placement
from raybank.storage.transfer_log import TransferLog
from raybank.domain.transfer import (
    ABORTING, BEGUN, CREDITED, HELD, InFlight, TransferRecord, begin, unfinished,
)

COORDINATOR_NAME = "raybank:transfers"  # ':' is not allowed in account names: no collision
# Calls in flight at once: simulate's clients keep a window in flight per host and per pair
# of hosts (8 clients x 36 lanes with 8 hosts), and a window held up by a restarting host must
# not keep the others from a thread (idle threads cost little memory).
MAX_CONCURRENCY = 320
# pause, resume and status run in threads of their own: a reader must be able to resume
# while every transfer thread waits at the paused gate.
CONTROL = "control"
CONTROL_CONCURRENCY = 8
REDRIVE_FIRST_S = 0.1
REDRIVE_MAX_S = 2.0  # a transfer ends within about this long after its fault is cleared
PAUSE_DRAIN_S = 30.0  # how long a pause waits for running legs before giving up
# Each unended state's leg: the method, the account it runs on, and its counterparty.
LEGS = {BEGUN: ("hold", "source", "target"), HELD: ("transfer_in", "target", "source"),
        CREDITED: ("transfer_out", "source", "target"), ABORTING: ("release", "source", "target")}


class TransferCoordinator:
    """Owns the transfer records of one namespace and drives each transfer to its end."""

    def __init__(self, home: str, namespace: str,
                 accounts: AccountRouting | HostedRouting | None = None) -> None:
        """``accounts`` reaches the accounts; Ray passes none (the Ray routing of the
        namespace's placement: accounts exist, so it is recorded by now)."""
        self._home = Path(home)
        self._accounts = accounts or routing_for(
            self._home, namespace, read_placement(self._home, namespace) or Placement(),
            Storage(self._home, namespace))
        self._log = TransferLog(self._home, namespace)
        self._log_broken = False  # an append failed: reopen the log before the next step
        self._log_guard = threading.Lock()
        self._records = self._log.open()
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self._gate = LegGate()
        self._redrive = Redrive(self._finish, REDRIVE_FIRST_S, REDRIVE_MAX_S)
        for transfer_id, record in self._records.items():
            if not record.ended:
                self._redrive.add(transfer_id)

    def _lock(self, transfer_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[transfer_id]

    # -- the command -----------------------------------------------------------------------
    def transfer(self, transfer_id: str, source: str, target: str, amount: Decimal,
                 request: str) -> dict[str, Any]:
        """Move ``amount`` exactly once per ``transfer_id``; a repeat gets the first answer.

        ``request`` is unique per command invocation: Ray's retry of this very call after a
        crash carries the same one, so it is not reported as a duplicate. A failure on the
        way raises ``transfer-unfinished`` (exit 4) and leaves the transfer to the re-drive
        loop; a repeat waits for whichever thread drives it and answers its outcome.
        """
        with self._lock(transfer_id):
            record = self._records.get(transfer_id)
            if record is not None:
                record.check_same(source, target, amount)
                duplicate = record.request != request
            else:
                duplicate = False
            try:
                if record is None:
                    self._begin([begin(transfer_id, source, target, amount, request)])
                record = self._drive(transfer_id)
            except Exception as error:
                self._redrive.add(transfer_id)
                raise unfinished(transfer_id, error) from None
            return record.outcome(duplicate)

    def transfer_many(self, transfers: list[tuple[str, str, str, Decimal, str]]
                      ) -> list[dict[str, Any] | BankError]:
        """Many transfers (id, source, target, amount, request) driven together: each step
        of all of them is one grouped leg call per account's actor or host and one log
        sync, rather than one each (simulate's windows). Each answer is what ``transfer``
        answers or raises for it; a transfer that meets a failure is left to the re-drive
        loop and answered ``transfer-unfinished``, exactly as there."""
        asked = {transfer[0]: transfer for transfer in transfers}
        answered: dict[str, dict[str, Any] | BankError] = {}
        with contextlib.ExitStack() as held:
            for transfer_id in sorted(asked):  # one order: two batches never deadlock
                held.enter_context(self._lock(transfer_id))
            fresh, duplicates = [], set()
            for transfer_id, source, target, amount, request in asked.values():
                record = self._records.get(transfer_id)
                if record is None:
                    fresh.append(begin(transfer_id, source, target, amount, request))
                    continue
                try:
                    record.check_same(source, target, amount)
                except BankError as error:
                    answered[transfer_id] = error
                if record.request != request:
                    duplicates.add(transfer_id)
            failed: dict[str, Exception] = {}
            try:
                self._begin(fresh)
            except Exception as error:
                failed.update(dict.fromkeys((r.transfer_id for r in fresh), error))
            driving = [tid for tid in asked if tid not in answered and tid not in failed]
            failed.update(self._drive_all(driving))
            for transfer_id, error in failed.items():
                self._redrive.add(transfer_id)
                answered[transfer_id] = unfinished(transfer_id, error)
            for transfer_id in asked.keys() - answered.keys():
                try:
                    answered[transfer_id] = self._records[transfer_id].outcome(
                        transfer_id in duplicates)
                except BankError as refusal:
                    answered[transfer_id] = refusal
        return [answered[transfer[0]] for transfer in transfers]

    @ray.method(concurrency_group=CONTROL)
    def status(self) -> dict[str, Any]:
        """How many transfers the log holds, by state, and this incarnation's pid."""
        counts: defaultdict[str, int] = defaultdict(int)
        for record in list(self._records.values()):
            counts[record.state] += 1
        return {"pid": os.getpid(), "states": dict(counts)}

    # -- a consistent read of the accounts (docs/transfers.md) -----------------------------
    @ray.method(concurrency_group=CONTROL)
    def pause(self, lease_s: float) -> tuple[str, list[InFlight]]:
        """Stop every leg for at most ``lease_s``: returns a token for ``resume`` and each
        transfer whose legs may still change an account -- every unended one, including
        those a dead incarnation left (a leg it sent may still arrive)."""
        token = self._gate.pause(lease_s, PAUSE_DRAIN_S)
        unended = [InFlight(r.transfer_id, r.source, r.target, r.amount)
                   for r in list(self._records.values()) if not r.ended]
        return token, unended

    @ray.method(concurrency_group=CONTROL)
    def resume(self, token: str) -> bool:
        """Let legs run again; False if the lease had run out first (the read must redo)."""
        return self._gate.resume(token)

    # -- driving ---------------------------------------------------------------------------
    def _begin(self, records: list[TransferRecord]) -> None:
        # Known before they are durable: an append reported failed may still be on disk and
        # be found by the next incarnation, so each transfer is driven like any other.
        for record in records:
            self._records[record.transfer_id] = record
        self._ensure_log()
        self._save(records)
        for record in records:
            self._reach(faults.TRANSFER_AFTER_BEGIN, record)

    def _finish(self, transfer_id: str) -> None:
        """The re-drive loop's step: drive one transfer to its end (or raise)."""
        with self._lock(transfer_id):
            self._drive(transfer_id)

    def _drive(self, transfer_id: str) -> TransferRecord:
        """Drive one transfer to its end (the caller holds its lock), or raise what stopped it."""
        failed = self._drive_all([transfer_id])
        if transfer_id in failed:
            raise failed[transfer_id]
        return self._records[transfer_id]

    def _drive_all(self, transfer_ids: list[str]) -> dict[str, Exception]:
        """Take the next step of every transfer until each has ended or failed; returns
        the failures. Every step may be repeated. The caller holds the transfers' locks.
        The records are read afresh for each step: reopening a failed log may have brought
        newer ones."""
        failed: dict[str, Exception] = {}
        while True:
            try:
                self._ensure_log()
            except Exception as error:
                return {**failed, **dict.fromkeys(transfer_ids, error)}
            records = [self._records[tid] for tid in transfer_ids if not self._records[tid].ended]
            if not records:
                return failed
            failed.update(self._step(records))
            transfer_ids = [r.transfer_id for r in records if r.transfer_id not in failed]

    def _step(self, records: list[TransferRecord]) -> dict[str, Exception]:
        """One step of each transfer: its leg, sent with the others' as one group per
        account, then every new state saved with one sync. Returns the failures."""
        for record in records:
            if record.state == CREDITED:
                self._reach(faults.TRANSFER_BEFORE_SETTLE, record)
        try:
            answers = self._legs(records)
        except Exception as error:  # nothing sent (e.g. a host could not start)
            return dict.fromkeys((r.transfer_id for r in records), error)
        saved: list[TransferRecord] = []
        failed: dict[str, Exception] = {}
        for record, answer in zip(records, answers):
            try:
                saved.append(self._next_state(record, answer))
            except Exception as error:
                failed[record.transfer_id] = error
        try:
            self._save(saved)
        except Exception as error:
            failed.update(dict.fromkeys((r.transfer_id for r in saved), error))
        return failed

    def _next_state(self, record: TransferRecord, answer: Any) -> TransferRecord:
        """The record after its leg answered (a dict, or the error it raised), or raise."""
        refusal = isinstance(answer, (RuleViolation, AccountNotFound))
        if isinstance(answer, Exception) and not refusal:
            raise answer
        if record.state == BEGUN:
            if refusal:
                return record.refused(answer)
            self._reach(faults.TRANSFER_AFTER_HOLD, record)
            return record.held()
        if record.state == HELD:
            if isinstance(answer, AccountNotFound):
                return record.refused(answer)
            if refusal:
                raise answer
            self._reach(faults.TRANSFER_AFTER_CREDIT, record)
            return record.credited(answer)
        method = LEGS[record.state][0]
        if refusal:  # once credited, a refusal here is a broken invariant
            raise TransferStuck(f"transfer {record.transfer_id!r} cannot {method} on "
                                f"{record.source!r}: {answer}")
        if record.state == CREDITED:
            self._reach(faults.TRANSFER_AFTER_SETTLE, record)
            return record.committed(answer)
        return record.released()

    def _legs(self, records: list[TransferRecord]) -> list[Any]:
        """Each record's next leg, through the gate a consistent read pauses: one
        ``apply_many`` per account (one ``apply_groups`` per host). Each answer is the
        leg's result or the error it met."""
        groups: dict[str, list[Group]] = {}
        places: list[tuple[str, int] | InjectedFault] = []
        for record in records:
            method, account, counterparty = LEGS[record.state]
            account, counterparty = getattr(record, account), getattr(record, counterparty)
            step = faults.LEG_FAILS[method]
            if faults.armed(self._home, step, account):  # testing aid
                places.append(InjectedFault(f"{method} on {account!r} failed: injected "
                                            f"fault ({step}--{account})"))
                continue
            calls = groups.setdefault(account, [])
            places.append((account, len(calls)))
            calls.append((method, (record.transfer_id, record.amount, counterparty)))
        answers: dict[str, Any] = {}
        with self._gate.leg():
            sent = self._accounts.submit_groups(
                {name: (calls, False) for name, calls in groups.items()})
            for name, outcome in sent.items():
                try:
                    answers[name] = (outcome if isinstance(outcome, BankError)
                                     else outcome.result())
                except BankError as error:
                    answers[name] = error
        return [place if isinstance(place, InjectedFault) else
                answers[place[0]] if isinstance(answers[place[0]], BankError) else
                answers[place[0]][place[1]] for place in places]

    # -- the log ---------------------------------------------------------------------------
    def _save(self, records: list[TransferRecord]) -> None:
        """Make the records durable with one sync, then let them be each transfer's state."""
        with self._log_guard:
            try:
                self._log.append_many(records)
            except StorageError:
                self._log_broken = True  # the log closed itself: it takes no more appends
                raise
            for record in records:
                self._records[record.transfer_id] = record

    def _ensure_log(self) -> None:
        """Reopen the log after a failed append, as a restart would, before the next step.

        Reopening drops a torn last line. Memory can lag the log only by records whose
        append was reported failed but reached the file; the log's newest record of each
        transfer is adopted, exactly what a new incarnation would resume from.
        """
        with self._log_guard:
            if not self._log_broken:
                return
            self._log.close()
            on_disk = self._log.open()
            self._records.update(on_disk)
            self._log_broken = False

    def _reach(self, step: str, record: TransferRecord) -> None:
        """Fault injection (testing aid): the coordinator dies here, or kills an account."""
        faults.crash_point(self._home, step, faults.COORDINATOR)
        for account in (record.source, record.target):
            if faults.fires(self._home, step, account):
                # Killed for good (INACTIVE): the next leg on that account must revive it.
                self._accounts.retire(account)


RemoteTransferCoordinator = ray.remote(
    concurrency_groups={CONTROL: CONTROL_CONCURRENCY})(TransferCoordinator)
