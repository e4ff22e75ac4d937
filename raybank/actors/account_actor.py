"""The Account actor: Ray's host of one ``LiveAccount``, named after the account.

Ray reruns ``__init__`` on every restart, so the constructor *is* recovery: it rebuilds the
account from storage (never from its arguments, which only name the account). Everything
about exactly-once lives in ``LiveAccount``; this class only adds what a Ray process has:
where it runs, how to reach storage (directly, or through the persistence pool), per-method
call counts (the seeds' per-actor telemetry), and passivation: it stops itself when idle for
``idle_s``, or when the routing needs room (routing/passivation.py), never mid-call.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import ray

from raybank.actors.live_account import LiveAccount
from raybank.domain.errors import BankError
from raybank.storage import Storage, counters, layout
from raybank.storage.base import AccountStore

IDLE_CHECKS_PER_TIMEOUT = 4
# Reads for `accounts` and `verify` look at an account without using it: they do not keep
# its actor alive.
NOT_USE = frozenset({"listing", "fingerprint"})


class AccountActor:
    """One account, alive in one process for as long as Ray keeps it there."""

    def __init__(self, home: str, namespace: str, name: str,
                 idle_s: float | None = None) -> None:
        """``idle_s``: stop after this long without a call (None: never on its own)."""
        self._name = name
        self._home = Path(home)
        self._namespace = namespace
        self._storage = Storage(self._home, namespace)
        self._calls: Counter[str] = Counter()
        self._live = LiveAccount(name, self._store_for, self._home)
        self._live.warm()
        self._last_used = time.monotonic()
        self._in_call = threading.Lock()  # held by every call; the idle watcher waits on it
        if self._opened() and _revived():
            counters.add(layout.activations_log(self._home, namespace))  # revived by name
        if idle_s is not None:
            threading.Thread(target=self._watch_idle, args=(idle_s,), daemon=True,
                             name="idle-watch").start()

    def _opened(self) -> bool:
        try:
            return self._live.state().opened
        except BankError:
            return False  # unreadable: the first command that needs it says why

    def _store_for(self, kind: str | None) -> AccountStore:
        """The store of ``kind`` (None: the account's own), or its persistence-actor proxy
        when the namespace pools its writes."""
        store = (self._storage.store_for(self._name) if kind is None
                 else self._storage.stores[kind])
        if self._storage.persistence != "pool":
            return store
        from raybank.actors.persistence_pool import PooledStore

        return PooledStore(store, self._home, self._namespace)

    def _run(self, method: str, *args: Any) -> Any:
        self._calls[method] += 1
        with self._in_call:
            try:
                return getattr(self._live, method)(*args)
            finally:
                if method not in NOT_USE:
                    self._last_used = time.monotonic()

    # -- commands --------------------------------------------------------------------------
    def open(self, op_id: str, balance: Decimal, min_balance: Decimal,
             kind: str | None = None) -> dict[str, Any]:
        return self._run("open", op_id, balance, min_balance, kind)

    def deposit(self, op_id: str, amount: Decimal) -> dict[str, Any]:
        return self._run("deposit", op_id, amount)

    def withdraw(self, op_id: str, amount: Decimal) -> dict[str, Any]:
        return self._run("withdraw", op_id, amount)

    def hold(self, transfer_id: str, amount: Decimal, to: str) -> dict[str, Any]:
        return self._run("hold", transfer_id, amount, to)

    def release(self, transfer_id: str, amount: Decimal, to: str) -> dict[str, Any]:
        return self._run("release", transfer_id, amount, to)

    def transfer_out(self, transfer_id: str, amount: Decimal, to: str) -> dict[str, Any]:
        return self._run("transfer_out", transfer_id, amount, to)

    def transfer_in(self, transfer_id: str, amount: Decimal, source: str) -> dict[str, Any]:
        return self._run("transfer_in", transfer_id, amount, source)

    def apply_many(self, calls: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Several commands in order, durable with one sync (see LiveAccount.apply_many)."""
        self._calls["apply_many"] += 1
        self._calls.update(method for method, _ in calls)
        with self._in_call:
            try:
                return self._live.apply_many(calls)
            finally:
                self._last_used = time.monotonic()

    # -- inspection ------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        return self._run("summary")

    def fingerprint(self) -> dict[str, Any]:
        return self._run("fingerprint")

    def listing(self, transfer_ids: list[str]) -> dict[str, Any]:
        """What `raybank accounts` shows: the summary and legs, plus this process."""
        return {**self._run("listing", transfer_ids), "process": self.process()}

    def process(self) -> dict[str, Any]:
        """Where this incarnation runs, and what it has been asked since it started."""
        context = ray.get_runtime_context()
        return {"pid": os.getpid(), "node_id": context.get_node_id(),
                "calls": dict(self._calls)}

    def passivate(self) -> None:
        """Let go of open files before the actor is killed for good."""
        self._live.passivate()

    # -- passivation -----------------------------------------------------------------------
    def idle_seconds(self) -> float:
        """How long since the last command (asking does not count as use)."""
        return time.monotonic() - self._last_used

    @ray.method(max_task_retries=0)  # a stop is never repeated on a successor
    def passivate_if_idle(self, min_idle: float) -> bool:
        """Stop for good if idle for ``min_idle`` seconds; False if used meanwhile.

        Calls run one at a time here, so no command is in flight while this decides. The
        account stays: its next command revives it by name (the caller sees the actor die).
        """
        with self._in_call:
            if self.idle_seconds() < min_idle:
                return False
            self._stop()
            ray.actor.exit_actor()
        return True  # not reached: exit_actor ends the process

    def _stop(self) -> None:
        """Let go of the account (everything acknowledged is durable) and count it."""
        self._live.passivate()
        counters.add(layout.evictions_log(self._home, self._namespace))

    def _watch_idle(self, idle_s: float) -> None:
        """Stop this actor for good once it has been idle for ``idle_s``."""
        me = ray.get_runtime_context().current_actor
        while True:
            time.sleep(idle_s / IDLE_CHECKS_PER_TIMEOUT)
            with self._in_call:  # no call runs while this decides; the next one waits
                if self.idle_seconds() < idle_s:
                    continue
                self._stop()
                # Killed for good (not restarted): a call waiting on the lock sees the
                # actor die and is sent to its successor, revived by name (routing/call.py).
                ray.kill(me, no_restart=True)
                return


def _revived() -> bool:
    """Whether this process is a new actor for an account (not Ray's restart of one)."""
    return ray.is_initialized() and not (
        ray.get_runtime_context().was_current_actor_reconstructed)


RemoteAccountActor = ray.remote(AccountActor)
