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
    InjectedFault,
    RuleViolation,
    StorageError,
    TransferStuck,
)
from raybank.testing import faults
from raybank.routing.accounts import AccountRouting
from raybank.routing.hosted import HostedRouting
from raybank.storage import Storage
from raybank.storage.placement import Placement, read_placement
from raybank.storage.transfer_log import TransferLog
from raybank.domain.transfer import (
    ABORTING, BEGUN, CREDITED, HELD, InFlight, TransferRecord, begin, unfinished,
)

COORDINATOR_NAME = "raybank:transfers"  # ':' is not allowed in account names: no collision
MAX_CONCURRENCY = 16
# pause, resume and status run in threads of their own: a reader must be able to resume
# while every transfer thread waits at the paused gate.
CONTROL = "control"
CONTROL_CONCURRENCY = 8
REDRIVE_FIRST_S = 0.1
REDRIVE_MAX_S = 2.0  # a transfer ends within about this long after its fault is cleared
PAUSE_DRAIN_S = 30.0  # how long a pause waits for running legs before giving up


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
                    self._begin(begin(transfer_id, source, target, amount, request))
                record = self._drive(transfer_id)
            except Exception as error:
                self._redrive.add(transfer_id)
                raise unfinished(transfer_id, error) from None
            return record.outcome(duplicate)

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
    def _begin(self, record: TransferRecord) -> None:
        # Known before it is durable: an append reported failed may still be on disk and
        # be found by the next incarnation, so the transfer is driven like any other.
        self._records[record.transfer_id] = record
        self._ensure_log()
        self._save(record)
        self._reach(faults.TRANSFER_AFTER_BEGIN, record)

    def _finish(self, transfer_id: str) -> None:
        """The re-drive loop's step: drive one transfer to its end (or raise)."""
        with self._lock(transfer_id):
            self._drive(transfer_id)

    def _drive(self, transfer_id: str) -> TransferRecord:
        """Take the next step until the transfer has ended; every step may be repeated.

        The caller holds the transfer's lock. The record is read afresh for each step:
        reopening a failed log may have brought a newer one.
        """
        while True:
            self._ensure_log()
            record = self._records[transfer_id]
            if record.ended:
                return record
            self._step(record)

    def _step(self, record: TransferRecord) -> None:
        if record.state == BEGUN:
            try:
                self._leg(record.source, "hold", record, record.target)
            except (RuleViolation, AccountNotFound) as refused:
                self._save(record.refused(refused))
                return
            self._reach(faults.TRANSFER_AFTER_HOLD, record)
            self._save(record.held())
        elif record.state == HELD:
            try:
                credited = self._leg(record.target, "transfer_in", record, record.source)
            except AccountNotFound as gone:
                self._save(record.refused(gone))
                return
            self._reach(faults.TRANSFER_AFTER_CREDIT, record)
            self._save(record.credited(credited))
        elif record.state == CREDITED:
            self._reach(faults.TRANSFER_BEFORE_SETTLE, record)
            settled = self._settle("transfer_out", record)
            self._reach(faults.TRANSFER_AFTER_SETTLE, record)
            self._save(record.committed(settled))
        elif record.state == ABORTING:
            self._settle("release", record)
            self._save(record.released())

    def _leg(self, account: str, method: str, record: TransferRecord,
             counterparty: str) -> dict[str, Any]:
        """One leg call on an account, through the gate a consistent read pauses."""
        with self._gate.leg():
            step = faults.LEG_FAILS[method]
            if faults.armed(self._home, step, account):  # testing aid
                raise InjectedFault(f"{method} on {account!r} failed: injected fault "
                                    f"({step}--{account})")
            return self._accounts.call(account, method, record.transfer_id, record.amount,
                                   counterparty)

    def _settle(self, method: str, record: TransferRecord) -> dict[str, Any]:
        """Settle or release the hold; once credited, a refusal here is a broken invariant."""
        try:
            return self._leg(record.source, method, record, record.target)
        except (RuleViolation, AccountNotFound) as error:
            raise TransferStuck(f"transfer {record.transfer_id!r} cannot {method} on "
                                f"{record.source!r}: {error}") from None

    # -- the log ---------------------------------------------------------------------------
    def _save(self, record: TransferRecord) -> None:
        with self._log_guard:
            try:
                self._log.append(record)
            except StorageError:
                self._log_broken = True  # the log closed itself: it takes no more appends
                raise
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
