"""The transfer coordinator: one named, detached actor per namespace that owns transfers.

It records each transfer's state durably (``TransferLog``) before taking the step that
state announces, and drives the legs on the account actors: hold on the source, credit the
destination, settle the source -- or release the hold if the transfer is called off. Accounts
never call back, so there is no cycle to deadlock on; the coordinator runs calls in threads
so transfers proceed side by side, with one lock per transfer id.

Ray reruns ``__init__`` after a crash and retries the call that was in flight; ``__init__``
reloads the log and finishes every transfer that had not ended, by itself.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import ray

from raybank.errors import AccountNotFound, BankError, InfrastructureError, RuleViolation
from raybank.storage.transfers import TransferLog
from raybank.transfer import (
    ABORTING, AFTER_BEGIN, AFTER_CREDIT, AFTER_HOLD, AFTER_SETTLE, BEFORE_SETTLE, BEGUN,
    CREDITED, HELD, Fault, TransferRecord, begin,
)

COORDINATOR_NAME = "raybank:transfers"  # ':' is not allowed in account names: no collision
MAX_CONCURRENCY = 16
RECOVERY_ATTEMPTS = 30
RECOVERY_BACKOFF_S = 0.5

log = logging.getLogger(__name__)


class TransferCoordinator:
    """Owns the transfer records of one namespace and drives each transfer to its end."""

    def __init__(self, home: str, namespace: str) -> None:
        from raybank.bank import Bank  # bank.py starts this actor: import it lazily

        self._bank: Bank = Bank(Path(home), namespace)
        self._log = TransferLog(Path(home), namespace)
        self._records = self._log.open()
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        unfinished = [tid for tid, record in self._records.items() if not record.ended]
        if unfinished:
            threading.Thread(target=self._recover, args=(unfinished,), daemon=True,
                             name="raybank-transfer-recovery").start()

    def _lock(self, transfer_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[transfer_id]

    # -- the command -----------------------------------------------------------------------
    def transfer(self, transfer_id: str, source: str, target: str, amount: Decimal,
                 request: str, fault: Fault | None = None) -> dict[str, Any]:
        """Move ``amount`` exactly once per ``transfer_id``; a repeat gets the first answer.

        ``request`` is unique per command invocation: Ray's retry of this very call after a
        crash carries the same one, so it is not reported as a duplicate.
        """
        with self._lock(transfer_id):
            record = self._records.get(transfer_id)
            if record is not None:
                record.check_same(source, target, amount)
                duplicate = record.request != request
                fault = None  # a fault fires once: never again on Ray's retry
            else:
                duplicate = False
                record = self._save(begin(transfer_id, source, target, amount, request))
                self._reach(AFTER_BEGIN, record, fault)
            return self._drive(record, fault).outcome(duplicate)

    def status(self) -> dict[str, Any]:
        """How many transfers the log holds, by state, and this incarnation's pid."""
        counts: defaultdict[str, int] = defaultdict(int)
        for record in list(self._records.values()):
            counts[record.state] += 1
        return {"pid": os.getpid(), "states": dict(counts)}

    # -- driving ---------------------------------------------------------------------------
    def _save(self, record: TransferRecord) -> TransferRecord:
        self._log.append(record)
        self._records[record.transfer_id] = record
        return record

    def _drive(self, record: TransferRecord, fault: Fault | None) -> TransferRecord:
        """Take the next step until the transfer has ended; every step may be repeated."""
        tid, amount = record.transfer_id, record.amount
        while not record.ended:
            if record.state == BEGUN:
                try:
                    self._bank.call(record.source, "hold", tid, amount, record.target)
                except (RuleViolation, AccountNotFound) as refused:
                    record = self._save(record.refused(refused))
                    continue
                self._reach(AFTER_HOLD, record, fault)
                record = self._save(record.held())
            elif record.state == HELD:
                try:
                    credited = self._bank.call(record.target, "transfer_in", tid, amount,
                                               record.source)
                except AccountNotFound as gone:
                    record = self._save(record.refused(gone))
                    continue
                self._reach(AFTER_CREDIT, record, fault)
                record = self._save(record.credited(credited))
            elif record.state == CREDITED:
                self._reach(BEFORE_SETTLE, record, fault)
                settled = self._settle("transfer_out", record)
                self._reach(AFTER_SETTLE, record, fault)
                record = self._save(record.committed(settled))
            elif record.state == ABORTING:
                self._settle("release", record)
                record = self._save(record.released())
        return record

    def _settle(self, method: str, record: TransferRecord) -> dict[str, Any]:
        """Settle or release the hold; once credited, a refusal here is a broken invariant."""
        try:
            return self._bank.call(record.source, method, record.transfer_id, record.amount,
                                   record.target)
        except (RuleViolation, AccountNotFound) as error:
            raise InfrastructureError(f"transfer {record.transfer_id!r} cannot {method} on "
                                      f"{record.source!r}: {error}", "transfer-stuck") from None

    def _reach(self, step: str, record: TransferRecord, fault: Fault | None) -> None:
        """Fault injection (testing aid): die here if this call was asked to."""
        if fault is None or fault.step != step:
            return
        if fault.victim == "coordinator":
            os._exit(1)
        # Killed for good (INACTIVE): the next leg on that account must revive it.
        self._bank.kill(record.source if fault.victim == "source" else record.target,
                        restart=False)

    def _recover(self, transfer_ids: list[str]) -> None:
        """Finish what a previous incarnation left, retrying while accounts come back."""
        for transfer_id in transfer_ids:
            for attempt in range(RECOVERY_ATTEMPTS):
                with self._lock(transfer_id):
                    try:
                        self._drive(self._records[transfer_id], None)
                        break
                    except BankError as error:
                        log.warning("transfer %s not finished yet (attempt %d): %s",
                                    transfer_id, attempt + 1, error)
                time.sleep(RECOVERY_BACKOFF_S)


RemoteTransferCoordinator = ray.remote(TransferCoordinator)
