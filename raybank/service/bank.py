"""What a command means: find or revive an account's actor by name, call it, report.

The Bank treats an actor as a cache of an account, not as the account: any account may have
no live actor (it is INACTIVE), and the first command that needs one revives it from storage
under the same name -- the virtual-actor shape that lets a bank hold more accounts than a
machine has room for processes. Where an account's actor lives and how a call reaches it is
the routing's business (raybank.routing); the Bank hands it the remote classes to start.
"""

from __future__ import annotations

import copy
import shutil
import time
from decimal import Decimal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray.exceptions import RayError

from raybank.actors.coordinator import (
    COORDINATOR_NAME,
    MAX_CONCURRENCY,
    RemoteTransferCoordinator,
)
from raybank.domain.errors import AccountNotFound, BankError, RayFailed, SameAccount
from raybank.domain.names import new_op_id
from raybank.domain.transfer import ENDED
from raybank.actors.routes import routing_for
from raybank.routing import passivation
from raybank.routing.accounts import AccountRouting
from raybank.routing.hosted import HostedRouting
from raybank.routing.introspection import INACTIVE
from raybank.routing.options import restartable
from raybank.service import results
from raybank.service.listing import list_accounts, with_passivation
from raybank.service.pipeline import Pipeline
from raybank.storage import Storage, audit
from raybank.storage.codecs import event_record
from raybank.storage.sharded import storage_for
from raybank.storage.placement import Placement, choose_placement, effective_placement

TRANSFERS_WAIT_S = 60.0
CREATE_EVERY = 4096  # accounts create_many opens per round (a few calls per host each)


class Bank:
    """The accounts of one namespace, reached through their named, detached actors."""

    def __init__(self, home: Path, namespace: str, persistence: str | None = None,
                 placement: str | None = None, *,
                 routing: AccountRouting | HostedRouting | None = None) -> None:
        """``routing`` reaches the actors; by default Ray's for the namespace's placement
        (tests pass an in-process one). ``persistence`` and ``placement`` are what the user
        asked for: they apply to a new namespace and are fixed at its first account."""
        self.home = home
        self.namespace = namespace
        self.storage = Storage(home, namespace)
        self.persistence = persistence
        self.requested_placement = placement
        self.placement: Placement = effective_placement(home, namespace, placement,
                                                        self._has_accounts)
        self.storage = storage_for(home, namespace, self.placement)
        self.routing = routing or routing_for(
            home, namespace, self.placement, self.storage,
            coordinator=(COORDINATOR_NAME, self._start_coordinator))

    def _has_accounts(self) -> bool:
        return bool(self.storage.names())

    def choose_layout(self) -> None:
        """Fix the namespace's persistence and placement at its first account (exit 2 for
        a different choice later)."""
        self.placement = choose_placement(self.home, self.namespace, self.requested_placement,
                                          self._has_accounts)
        self.storage.choose_persistence(self.persistence)

    def pipeline(self) -> Pipeline:
        """The same commands, queued per account and sent in groups (batch)."""
        return Pipeline(self)

    # -- commands --------------------------------------------------------------------------
    def create(self, name: str, balance: Decimal, min_balance: Decimal, op_id: str,
               kind: str | None = None) -> results.Account:
        self.choose_layout()
        try:
            return results.Account.from_contract(self.routing.call(
                name, "open", op_id, balance, min_balance, kind, creating=True))
        except BankError:
            self.retire_unopened(name)
            raise

    def retire_unopened(self, name: str) -> None:
        """A refused creation leaves no actor behind: retire it unless the account exists."""
        if not self.exists(name):
            self.routing.retire(name)

    def deposit(self, name: str, amount: Decimal, op_id: str) -> results.Account:
        return results.Account.from_contract(self.routing.call(name, "deposit", op_id, amount))

    def withdraw(self, name: str, amount: Decimal, op_id: str) -> results.Account:
        return results.Account.from_contract(self.routing.call(name, "withdraw", op_id, amount))

    def balance(self, name: str) -> results.Account:
        return results.Account.from_contract(self.routing.call(name, "summary"))

    def create_many(self, accounts: list[tuple[str, Decimal, Decimal, str]]
                    ) -> list[results.Account]:
        """Open several accounts at once, as groups: in parallel, one round trip per actor
        (or per host)."""
        self.choose_layout()
        # In actor placement a round starts an actor per account: half the live limit, so
        # passivation makes room as it goes rather than a thousand actors starting at once.
        every = CREATE_EVERY if self.placement.hosted else max(1, passivation.limits()[0] // 2)
        opened = []
        for start in range(0, len(accounts), every):
            opened.extend(self._create_group(accounts[start:start + every]))
        return opened

    def _create_group(self, accounts: list[tuple[str, Decimal, Decimal, str]]
                      ) -> list[results.Account]:
        sent = self.routing.submit_groups(
            {name: ([("open", (op_id, balance, minimum, None))], True)
             for name, balance, minimum, op_id in accounts})
        opened = []
        for name, *_ in accounts:
            outcome = sent[name]
            answer = (outcome if isinstance(outcome, BankError) else outcome.result())
            if isinstance(answer, BankError):
                raise answer
            if isinstance(answer[0], BankError):
                raise answer[0]
            opened.append(results.Account.from_contract(answer[0]))
        return opened

    def transfer(self, source: str, target: str, amount: Decimal, op_id: str
                 ) -> results.Transfer:
        """Move money atomically, exactly once per ``op_id`` (the transfer id).

        Refusals change nothing. Any error names the transfer id; on exit 4 the transfer may
        be under way, and the coordinator finishes it by itself: repeating the command with
        the same op id answers its outcome.
        """
        try:
            if source == target:
                raise SameAccount(f"cannot transfer from {source!r} to itself")
            for name in (source, target):
                if not self.exists(name):
                    raise AccountNotFound(f"no account named {name!r}")
            request = new_op_id()  # tells Ray's retry of this call from a repeated command
            return results.Transfer.from_contract(
                self.coordinator_call("transfer", op_id, source, target, amount, request))
        except BankError as error:
            raise error.about(op_id, transfer_id=op_id) from None

    def transfer_many(self, transfers: list[tuple[str, str, Decimal, str]]
                      ) -> list[results.Transfer | BankError]:
        """Many transfers (source, target, amount, op id), each exactly once per op id,
        driven together by the coordinator: a few grouped calls for all of them (simulate's
        windows). Each answer is the transfer or the error ``transfer`` would raise. Unlike
        ``transfer`` it does not look up both accounts first (two calls a transfer): the
        coordinator refuses a missing account by itself, in both placements."""
        answers: list[results.Transfer | BankError] = []
        asked = [(op_id, source, target, amount, new_op_id())
                 for source, target, amount, op_id in transfers if source != target]
        try:
            driven = iter(self.coordinator_call("transfer_many", asked) if asked else [])
        except BankError as error:
            driven = iter([copy.copy(error) for _ in asked])
        for source, target, _, op_id in transfers:
            answer = (SameAccount(f"cannot transfer from {source!r} to itself")
                      if source == target else next(driven))
            answers.append(answer.about(op_id, transfer_id=op_id)
                           if isinstance(answer, BankError)
                           else results.Transfer.from_contract(answer))
        return answers

    # -- the transfer coordinator ----------------------------------------------------------
    def _start_coordinator(self) -> Any:
        """The namespace's transfer coordinator, started if it is not running (race-safe)."""
        return RemoteTransferCoordinator.options(**restartable(
            COORDINATOR_NAME, self.namespace, max_concurrency=MAX_CONCURRENCY)
        ).remote(str(self.home), self.namespace)

    def coordinator_call(self, method: str, *args: Any) -> Any:
        """Call the coordinator (started if need be) and wait for its answer."""
        return self.routing.coordinator_call(method, *args)

    def await_transfers(self, timeout: float = TRANSFERS_WAIT_S) -> int:
        """Wait until the coordinator has ended every transfer; returns how many have not."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.routing.coordinator_running():
                return 0
            states = self.coordinator_call("status")["states"]
            unended = sum(n for state, n in states.items() if state not in ENDED)
            if unended == 0 or time.monotonic() > deadline:
                return unended
            time.sleep(0.1)

    def stop_transfers(self) -> None:
        """Kill the coordinator for good (the demo cleans up with it); its log stays."""
        self.routing.stop_coordinator()

    # -- reading ---------------------------------------------------------------------------
    def stored(self, name: str) -> results.Account:
        """The account as storage alone knows it (no actor involved)."""
        return results.Account.from_contract(self.storage.store_for(name).load(name).summary())

    def accounts(self, limit: int | None = None) -> results.Listing:
        """Every account with its actor (the first ``limit`` by name, if given), and the
        bank's total and count at one consistent cut."""
        try:
            return results.Listing.from_contract(with_passivation(list_accounts(self, limit),
                                                                  self))
        except RayError as error:  # a look-up Ray failed: never a raw traceback
            raise RayFailed(f"cannot read the accounts: {error}") from None

    def history(self, name: str, limit: int | None = None) -> results.History:
        events = self.storage.store_for(name).events(name)
        if limit is not None:
            events = events[-limit:] if limit else []
        return results.History.from_contract(
            {"name": name, "events": [event_record(event) for event in events]})

    def verify(self, name: str | None = None,
               on_progress: Callable[[int, int, int], None] | None = None
               ) -> results.Verification:
        """Replay each account's whole history from storage alone and compare that state
        (balance, minimum, holds, op ids, seq) with what recovery loads (the newest snapshot
        and what follows it) and with the live actor's, if it has one.

        A mismatch names the account, the replayed balance ("stored"), the other side's
        ("live": the loaded state's for a "snapshot" mismatch, else the actor's) and what
        differs ("what"). ``on_progress(checked, mismatches, total)`` after each account.
        """
        names = [name] if name is not None else self.storage.names()
        if name is not None and not self.storage.exists(name):
            raise AccountNotFound(f"no account named {name!r}")
        mismatches = []
        # nothing cached from earlier commands; each shard read once
        fresh = storage_for(self.home, self.namespace, self.placement, cache=True)
        for checked, each in enumerate(names):
            check = audit.read_back(fresh.store_for(each), each)
            if check.differences:
                mismatches.append({"name": each, "stored": check.replayed.balance,
                                   "live": check.loaded.balance, "what": "snapshot"})
            if self.routing.live(each) is not None:
                live = self.routing.call(each, "fingerprint")
                differing = audit.differences(check.truth, live)
                if differing:
                    mismatches.append({"name": each, "stored": check.replayed.balance,
                                       "live": live["balance"], "what": ", ".join(differing)})
            if on_progress is not None:
                on_progress(checked + 1, len(mismatches), len(names))
        return results.Verification(ok=not mismatches, checked=len(names),
                                    mismatches=[results.Mismatch(**m) for m in mismatches])

    # -- actors ----------------------------------------------------------------------------
    def kill(self, name: str, restart: bool) -> results.Kill:
        """Kill the account's actor process; with ``restart`` wait for Ray to bring it back."""
        inactive = results.ActorInfo.from_contract(INACTIVE)
        handle = self.routing.actor(name) if restart else self.routing.live(name)
        if handle is None:
            idle = results.KillSide(self.stored(name), inactive)
            return results.Kill(name, before=idle, after=idle, restarted=False, recovered=True)
        before = results.KillSide(
            self.balance(name), results.ActorInfo.from_contract(self.routing.describe(handle)))
        if restart:
            info = self.routing.restart(name, before.actor.pid)
            after = results.KillSide(self.balance(name), results.ActorInfo.from_contract(info))
        else:
            self.routing.retire(name)
            after = results.KillSide(self.stored(name), inactive)
        recovered = (after.account.balance, after.account.min_balance) == (
            before.account.balance, before.account.min_balance)
        return results.Kill(name, before=before, after=after, restarted=restart,
                            recovered=recovered)

    def remove(self, name: str) -> None:
        """Kill an account's actor for good and delete its storage (demo and simulator).

        A hosted account has no storage of its own: its shard goes with the namespace."""
        self.routing.retire(name)
        if not self.placement.hosted:
            self.storage.store_for(name).delete(name)

    def exists(self, name: str) -> bool:
        """Whether the account exists: from its folder, or in hosted placement from its
        host (which holds its shard's index; reading the shard here would scan it)."""
        if not self.placement.hosted:
            return self.storage.exists(name)
        try:
            self.balance(name)
        except AccountNotFound:
            return False
        return True

    def remove_namespace(self, names: list[str]) -> None:
        """Remove a throwaway namespace: its coordinator, these accounts, its whole folder.

        Every piece is attempted; the first failure is raised once all have been tried.
        """
        failures: list[BankError] = []
        # hosted accounts go with their hosts and folder: no call per account
        removals = [] if self.placement.hosted else [lambda n=n: self.remove(n) for n in names]
        for step in (self.stop_transfers, *removals, self.routing.retire_hosts):
            try:
                step()
            except BankError as error:
                failures.append(error)
        shutil.rmtree(self.storage.namespace_dir, ignore_errors=True)
        if failures:
            raise failures[0]
