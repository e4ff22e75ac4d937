"""The Account actor: Ray's host of one ``LiveAccount``, named after the account.

Ray reruns ``__init__`` on every restart, so the constructor *is* recovery: it rebuilds the
account from storage (never from its arguments, which only name the account). Everything
about exactly-once lives in ``LiveAccount``; this class only adds what a Ray process has:
where it runs, how to reach storage (directly, or through the persistence pool), and
per-method call counts (the seeds' per-actor telemetry).
"""

from __future__ import annotations

import os
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import ray

from raybank.actors.live_account import LiveAccount
from raybank.storage import Storage
from raybank.storage.base import AccountStore


class AccountActor:
    """One account, alive in one process for as long as Ray keeps it there."""

    def __init__(self, home: str, namespace: str, name: str) -> None:
        self._name = name
        self._home = Path(home)
        self._namespace = namespace
        self._storage = Storage(self._home, namespace)
        self._calls: Counter[str] = Counter()
        self._live = LiveAccount(name, self._store_for, self._home)
        self._live.warm()

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
        return getattr(self._live, method)(*args)

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
        return self._live.apply_many(calls)

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


RemoteAccountActor = ray.remote(AccountActor)
