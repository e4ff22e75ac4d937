"""What a command means: find or revive an account's actor by name, call it, report.

This is the only layer that knows both Ray and storage. It treats an actor as a cache of an
account, not as the account: any account may have no live actor (it is INACTIVE), and the
first command that needs one revives it from storage under the same name -- the virtual-actor
shape that lets a bank hold more accounts than a machine has room for processes.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import (ActorDiedError, ActorUnavailableError, GetTimeoutError, RayError,
                            RayTaskError)

from raybank.actors.account_actor import RemoteAccountActor
from raybank.actors.coordinator import COORDINATOR_NAME, MAX_CONCURRENCY, RemoteTransferCoordinator
from raybank.domain.errors import (
    AccountNotFound,
    BankError,
    ClusterUnavailable,
    InfrastructureError,
    InvalidInput,
    unwrap_remote,
)
from raybank.domain.names import new_op_id
from raybank.storage import Storage
from raybank.storage.transfer_log import TransferLog
from raybank.domain.transfer import ENDED, InFlight, applied_legs, consistent_total

RESTART_WAIT_S = 60.0
RELEASE_WAIT_S = 30.0
CALL_TIMEOUT_S = 120.0
PAUSE_LEASE_S = 10.0  # how long a read may pause transfer legs (doubled on each redo)
CUT_ATTEMPTS = 3
INACTIVE = {"state": "INACTIVE", "pid": None, "node_id": None, "restarts": 0}
# Ray's actor states, folded into the contract's: a pending actor is on its way up.
_STATES = {"ALIVE": "ALIVE", "RESTARTING": "RESTARTING", "DEAD": "DEAD",
           "PENDING_CREATION": "RESTARTING", "DEPENDENCIES_UNREADY": "RESTARTING"}


class Bank:
    """The accounts of one namespace, reached through their named, detached actors."""

    def __init__(self, home: Path, namespace: str, persistence: str | None = None) -> None:
        self.home = home
        self.namespace = namespace
        self.storage = Storage(home, namespace)
        self.persistence = persistence  # asked for by the user; fixed per namespace
        # Handles found by name, kept while they work: a look-up costs as much as a call.
        self._handles: dict[str, ray.actor.ActorHandle] = {}
        # When set, call() queues the call in its account's Group and returns a GroupItem
        # instead of waiting; flush() sends the groups (batch).
        self.deferred = False
        self._groups: dict[str, Group] = {}

    # -- finding actors --------------------------------------------------------------------
    def live_actor(self, name: str) -> ray.actor.ActorHandle | None:
        """The account's actor if one is registered under its name (alive or restarting)."""
        try:
            return ray.get_actor(name, namespace=self.namespace)
        except ValueError:
            return None

    def _revive(self, name: str) -> ray.actor.ActorHandle:
        """The account's actor, started from storage if it has none (both race-safe)."""
        return RemoteAccountActor.options(
            name=name, namespace=self.namespace, lifetime="detached", get_if_exists=True,
            max_restarts=-1, max_task_retries=-1, num_cpus=0,
        ).remote(str(self.home), self.namespace, name)

    def actor(self, name: str, *, creating: bool = False) -> ray.actor.ActorHandle:
        handle = self._handles.get(name) or self.live_actor(name)
        if handle is None:
            if not creating and not self.storage.exists(name):
                raise AccountNotFound(f"no account named {name!r}")
            handle = self._revive(name)
        self._handles[name] = handle
        return handle

    def call(self, name: str, method: str, *args: Any, creating: bool = False) -> Any:
        """Call one account actor method and wait (or, when ``deferred``, queue it).

        If the actor was killed for good, it is revived and the call sent once more: safe
        because every mutating call carries an op id.
        """
        if self.deferred:
            group = self._groups.get(name)
            if group is None:
                group = self._groups[name] = Group(self, name)
            return group.add(method, args, creating)
        return self.submit(name, method, *args, creating=creating).result()

    def flush(self) -> None:
        """Send every queued group: one actor call and one fsync per account."""
        groups, self._groups = self._groups, {}
        for group in groups.values():
            group.send()

    def submit(self, name: str, method: str, *args: Any, creating: bool = False) -> Pending:
        """Send one actor call without waiting: calls from one caller to one actor run in
        the order they were sent, so a caller may keep many in flight (pipelining)."""
        return Pending(self, name, lambda: self.actor(name, creating=creating), method, args)

    def _call_named(self, name: str, find: Callable[[], ray.actor.ActorHandle], method: str,
                    *args: Any) -> Any:
        """Call ``method`` on the actor ``find`` returns (any named actor) and wait."""
        return Pending(self, name, find, method, args).result()

    def _await_release(self, name: str, old: ray.actor.ActorHandle) -> None:
        """Wait until the name no longer points at ``old`` (killed), so it can be revived.

        The cached handle of ``old`` is dropped first: it can never answer again.
        """
        self._handles.pop(name, None)
        deadline = time.monotonic() + RELEASE_WAIT_S
        while time.monotonic() < deadline:
            handle = self.live_actor(name)
            if handle is None or handle._actor_id != old._actor_id:
                return
            time.sleep(0.01)
        raise InfrastructureError(f"the name {name!r} was not released by its dead actor",
                                  "release-timeout")

    # -- commands --------------------------------------------------------------------------
    def create(self, name: str, balance: Decimal, min_balance: Decimal, op_id: str,
               kind: str | None = None) -> dict[str, Any]:
        self.storage.choose_persistence(self.persistence)
        try:
            return self.call(name, "open", op_id, balance, min_balance, kind, creating=True)
        except BankError:
            if not self.storage.exists(name):
                self._retire(name)  # a refused creation leaves no actor behind
            raise

    def deposit(self, name: str, amount: Decimal, op_id: str) -> dict[str, Any]:
        return self.call(name, "deposit", op_id, amount)

    def withdraw(self, name: str, amount: Decimal, op_id: str) -> dict[str, Any]:
        return self.call(name, "withdraw", op_id, amount)

    def create_many(self, accounts: list[tuple[str, Decimal, Decimal, str]]
                    ) -> list[dict[str, Any]]:
        """Open several accounts at once: their actors start in parallel, not one by one."""
        self.storage.choose_persistence(self.persistence)
        calls = [self.submit(name, "open", op_id, balance, minimum, None, creating=True)
                 for name, balance, minimum, op_id in accounts]
        return [call.result() for call in calls]

    def transfer(self, source: str, target: str, amount: Decimal, op_id: str
                 ) -> dict[str, Any]:
        """Move money atomically, exactly once per ``op_id`` (the transfer id).

        Refusals change nothing. Any error names the transfer id; on exit 4 the transfer may
        be under way, and the coordinator finishes it by itself: repeating the command with
        the same op id answers its outcome.
        """
        try:
            if source == target:
                raise InvalidInput(f"cannot transfer from {source!r} to itself",
                                   "same-account")
            for name in (source, target):
                if not self.storage.exists(name):
                    raise AccountNotFound(f"no account named {name!r}")
            request = new_op_id()  # tells Ray's retry of this call from a repeated command
            return self._call_named(COORDINATOR_NAME, self._coordinator, "transfer",
                                    op_id, source, target, amount, request)
        except BankError as error:
            raise error.about(op_id, transfer_id=op_id) from None

    def _coordinator(self) -> ray.actor.ActorHandle:
        """The namespace's transfer coordinator, started if it is not running (race-safe)."""
        return self.live_actor(COORDINATOR_NAME) or RemoteTransferCoordinator.options(
            name=COORDINATOR_NAME, namespace=self.namespace, lifetime="detached",
            get_if_exists=True, max_restarts=-1, max_task_retries=-1, num_cpus=0,
            max_concurrency=MAX_CONCURRENCY,
        ).remote(str(self.home), self.namespace)

    def await_transfers(self, timeout: float = RESTART_WAIT_S) -> int:
        """Wait until the coordinator has ended every transfer; returns how many have not."""
        deadline = time.monotonic() + timeout
        while True:
            handle = self.live_actor(COORDINATOR_NAME)
            if handle is None:
                return 0
            states = self._call_named(COORDINATOR_NAME, lambda: handle, "status")["states"]
            unended = sum(n for state, n in states.items() if state not in ENDED)
            if unended == 0 or time.monotonic() > deadline:
                return unended
            time.sleep(0.1)

    def stop_transfers(self) -> None:
        """Kill the coordinator for good (the demo cleans up with it); its log stays."""
        self._retire(COORDINATOR_NAME)

    def balance(self, name: str) -> dict[str, Any]:
        return self.call(name, "summary")

    def stored(self, name: str) -> dict[str, Any]:
        """The account as storage alone knows it (no actor involved)."""
        return self.storage.store_for(name).load(name).summary()

    def accounts(self) -> dict[str, Any]:
        """Every account with its actor, and the bank's total at one consistent cut.

        The total never counts a transfer's money twice or not at all (docs/transfers.md,
        "A consistent total"): while the reads run, the coordinator lets no transfer leg
        run, and each account is read together with the legs it has applied.
        """
        try:
            return self._accounts()
        except RayError as error:
            raise InfrastructureError(f"cannot read the accounts: {error}",
                                      "ray-error") from None

    def _accounts(self) -> dict[str, Any]:
        log = TransferLog(self.home, self.namespace).path
        if not log.exists():
            rows, legs = self._read_accounts([])
            # The log exists before any leg runs: still none, so no leg ran during the reads.
            if not log.exists():
                return with_total(rows, [], legs)
        for attempt in range(CUT_ATTEMPTS):
            token, in_flight = self._call_named(COORDINATOR_NAME, self._coordinator, "pause",
                                                PAUSE_LEASE_S * 2 ** attempt)
            try:
                rows, legs = self._read_accounts(in_flight)
            finally:
                held = self._resume(token)
            if held:
                return with_total(rows, in_flight, legs)
        raise InfrastructureError("the accounts could not all be read within a pause of the "
                                  "transfers; try again", "cut-timeout")

    def _resume(self, token: str) -> bool:
        """Let transfer legs run again; False if the pause may have ended before now."""
        try:
            return self._call_named(COORDINATOR_NAME, self._coordinator, "resume", token)
        except BankError:
            return False  # its lease ends it anyway; the read is redone or reported

    def _read_accounts(self, in_flight: list[InFlight]
                       ) -> tuple[list[dict[str, Any]], dict[str, dict[str, list[str]]]]:
        """Each account once, with which of its unended transfers' money legs it has
        applied: live actors all at once (one call each), the others from storage."""
        live = {entry["name"] for entry in ray.util.list_named_actors(all_namespaces=True)
                if entry["namespace"] == self.namespace}
        names = self.storage.names()
        involved: dict[str, list[str]] = {}
        for transfer in in_flight:
            for name in (transfer.source, transfer.target):
                involved.setdefault(name, []).append(transfer.transfer_id)
        calls = {name: self.submit(name, "listing", involved.get(name, []))
                 for name in names if name in live}
        rows, legs = [], {}
        for name in names:
            call = calls.get(name)
            if call is None:
                account = self.storage.store_for(name).load(name)
                rows.append({**account.summary(), "actor": dict(INACTIVE)})
                legs[name] = applied_legs(account.applied, involved.get(name, []))
                continue
            answer = call.result()
            rows.append({**answer["summary"], "actor": describe(call.handle),
                         "calls": answer["process"]["calls"]})
            legs[name] = answer["legs"]
        return rows, legs

    def history(self, name: str, limit: int | None = None) -> dict[str, Any]:
        events = self.storage.store_for(name).events(name)
        if limit is not None:
            events = events[-limit:] if limit else []
        return {"name": name, "events": [event.to_record() for event in events]}

    def kill(self, name: str, restart: bool) -> dict[str, Any]:
        """Kill the account's actor process; with ``restart`` wait for Ray to bring it back."""
        handle = self.live_actor(name) if not restart else self.actor(name)
        if handle is None:
            before = {**self.stored(name), "actor": dict(INACTIVE)}
            return {"name": name, "before": before, "after": before, "restarted": False,
                    "recovered": True}
        before = {**self.call(name, "summary"), "actor": describe(handle)}
        if restart:
            ray.kill(handle, no_restart=False)
            info = self._await_restart(handle, before["actor"]["pid"])
            after = {**self.call(name, "summary"), "actor": info}
        else:
            self._retire(name)
            after = {**self.stored(name), "actor": dict(INACTIVE)}
        recovered = (after["balance"], after["min_balance"]) == (
            before["balance"], before["min_balance"])
        return {"name": name, "before": before, "after": after, "restarted": restart,
                "recovered": recovered}

    def _await_restart(self, handle: ray.actor.ActorHandle, old_pid: int | None) -> dict:
        deadline = time.monotonic() + RESTART_WAIT_S
        while time.monotonic() < deadline:
            info = describe(handle)
            if info["state"] == "ALIVE" and info["pid"] not in (None, old_pid):
                return info
            time.sleep(0.02)
        raise InfrastructureError(f"actor did not come back within {RESTART_WAIT_S:.0f}s",
                                  "restart-timeout")

    def verify(self, name: str | None = None) -> dict[str, Any]:
        """Replay each account's whole history from storage alone and compare that state
        (balance, minimum, holds, op ids, seq) with what recovery loads (the newest snapshot
        and what follows it) and with the live actor's, if it has one.

        A mismatch names the account, the replayed balance ("stored"), the other side's
        ("live": the loaded state's for a "snapshot" mismatch, else the actor's) and what
        differs ("what").
        """
        from raybank.storage import audit

        names = [name] if name is not None else self.storage.names()
        if name is not None and not self.storage.exists(name):
            raise AccountNotFound(f"no account named {name!r}")
        mismatches = []
        fresh = Storage(self.home, self.namespace)  # nothing cached from earlier commands
        for each in names:
            check = audit.read_back(fresh.store_for(each), each)
            if check.differences:
                mismatches.append({"name": each, "stored": check.replayed.balance,
                                   "live": check.loaded.balance, "what": "snapshot"})
            if self.live_actor(each) is None:
                continue
            live = self.call(each, "fingerprint")
            differing = audit.differences(check.truth, live)
            if differing:
                mismatches.append({"name": each, "stored": check.replayed.balance,
                                   "live": live["balance"], "what": ", ".join(differing)})
        return {"ok": not mismatches, "checked": len(names), "mismatches": mismatches}

    def _retire(self, name: str) -> None:
        """Kill the named actor for good, if it has one, and wait for its name to free."""
        handle = self.live_actor(name)
        if handle is not None:
            ray.kill(handle, no_restart=True)
            self._await_release(name, handle)

    def remove(self, name: str) -> None:
        """Kill an account's actor for good and delete its storage (demo and simulator)."""
        self._retire(name)
        self.storage.store_for(name).delete(name)

    def remove_namespace(self, names: list[str]) -> None:
        """Remove a throwaway namespace: its coordinator, these accounts, its whole folder.

        Every piece is attempted; the first failure is raised once all have been tried.
        """
        failures: list[BankError] = []
        for step in (self.stop_transfers, *(lambda n=n: self.remove(n) for n in names)):
            try:
                step()
            except BankError as error:
                failures.append(error)
        shutil.rmtree(self.storage.namespace_dir, ignore_errors=True)
        if failures:
            raise failures[0]


class Pending:
    """One submitted actor call; ``result()`` waits for it, unwrapping errors.

    If the actor was killed for good meanwhile, ``find`` is asked for it again (reviving an
    account) and the call is sent once more: safe because every mutating call carries an op id.
    """

    def __init__(self, bank: Bank, name: str, find: Callable[[], ray.actor.ActorHandle],
                 method: str, args: tuple[Any, ...]) -> None:
        self.bank, self.name, self.find, self.method, self.args = bank, name, find, method, args
        self._send()

    def _send(self) -> None:
        self.handle = self.find()
        self.ref = getattr(self.handle, self.method).remote(*self.args)

    def result(self) -> Any:
        for attempt in range(2):
            try:
                return ray.get(self.ref, timeout=CALL_TIMEOUT_S)
            except RayTaskError as error:
                raise unwrap_remote(error) from None
            except (ActorDiedError, ActorUnavailableError) as error:
                if attempt:
                    raise InfrastructureError(f"actor {self.name!r} is unavailable: {error}",
                                              "actor-unavailable") from None
                self.bank._await_release(self.name, self.handle)
                self._send()
            except GetTimeoutError:
                raise ClusterUnavailable(f"actor {self.name!r} did not answer in "
                                         f"{CALL_TIMEOUT_S:.0f}s", "timeout") from None
        raise AssertionError("unreachable")


class Group:
    """Calls queued for one account, sent as one ``apply_many``: one round trip, one fsync.

    The actor runs them in order and answers each with its result or its BankError.
    """

    def __init__(self, bank: Bank, name: str) -> None:
        self.bank, self.name = bank, name
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.creating = False
        self._pending: Pending | None = None
        self._answers: list[Any] | None = None
        self._error: BankError | None = None
        self._sent = threading.Event()  # answers() may be waiting in another thread

    def add(self, method: str, args: tuple[Any, ...], creating: bool) -> GroupItem:
        self.calls.append((method, args))
        self.creating = self.creating or creating
        return GroupItem(self, len(self.calls) - 1)

    def send(self) -> None:
        try:
            creating = self.creating
            self._pending = Pending(
                self.bank, self.name,
                lambda: self.bank.actor(self.name, creating=creating), "apply_many",
                (self.calls,))
        except BankError as error:  # e.g. no such account: every call gets the answer
            self._error = error
        finally:
            self._sent.set()

    def answers(self) -> list[Any]:
        """Wait until the group is sent and answered (only one thread awaits a group)."""
        self._sent.wait()
        if self._answers is None and self._error is None:
            if self._pending is None:
                raise AssertionError("a group is awaited only once it was sent")
            try:
                self._answers = self._pending.result()
            except BankError as error:
                self._error = error
        if self._error is not None:
            raise self._error
        return self._answers  # type: ignore[return-value]


class GroupItem:
    """One call of a Group; ``result()`` waits for the group like Pending.result()."""

    def __init__(self, group: Group, index: int) -> None:
        self.group, self.index = group, index

    def result(self) -> Any:
        answer = self.group.answers()[self.index]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def with_total(rows: list[dict[str, Any]], in_flight: list[InFlight],
               legs: dict[str, dict[str, list[str]]]) -> dict[str, Any]:
    """The `accounts` result: the rows, and their total with each transfer counted once."""
    balances = {row["name"]: row["balance"] for row in rows}
    return {"accounts": rows, "total": consistent_total(balances, in_flight, legs)}


def describe(handle: ray.actor.ActorHandle) -> dict[str, Any]:
    """The actor's state, pid, node and restart count, as Ray's control store knows them.

    Read from the GCS actor table (``ray._private.state``) because the public state API
    needs the dashboard, which the embedded cluster does not run.
    """
    from ray._private import state

    entry = state.actors(handle._actor_id.hex())
    return {
        "state": _STATES.get(entry.get("State", ""), "DEAD"),
        "pid": entry.get("Pid") or None,
        "node_id": (entry.get("Address") or {}).get("NodeID") or None,
        "restarts": int(entry.get("NumRestarts", 0)),
    }
