"""An in-process routing: the Bank's real code, with accounts as plain objects, no Ray.

In the manner of cosmicpython's fake unit of work: the service runs unchanged, and what it
reaches are the same ``LiveAccount`` objects Ray would host, one per account, each behind a
lock (an actor runs one call at a time), over real storage in a temporary home. A "kill"
drops an account's object, so the next call reloads it from storage, as a restart would.
The transfer coordinator is the real class too, reaching the accounts through this routing.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from raybank.actors.coordinator import TransferCoordinator
from raybank.actors.live_account import LiveAccount
from raybank.domain.errors import AccountNotFound, BankError
from raybank.storage import Storage


class Done:
    """A call that already ran: ``result()`` answers it or raises its error."""

    def __init__(self, handle: str, run: Any) -> None:
        self.handle = handle
        try:
            self._value, self._error = run(), None
        except BankError as error:
            self._value, self._error = None, error

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value


class InProcessRouting:
    """Accounts by name as in-process objects; the coordinator as an in-process object."""

    def __init__(self, home: Path, namespace: str) -> None:
        self.home, self.namespace = home, namespace
        self.storage = Storage(home, namespace)
        self.accounts: dict[str, LiveAccount] = {}
        self.restarts: dict[str, int] = {}
        self.calls: dict[str, dict[str, int]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._coordinator: TransferCoordinator | None = None

    def _live(self, name: str, creating: bool) -> LiveAccount:
        with self._guard:
            live = self.accounts.get(name)
            if live is None:
                if not creating and not self.storage.exists(name):
                    raise AccountNotFound(f"no account named {name!r}")
                live = self.accounts[name] = LiveAccount(name, self._store_for(name), self.home)
                self._locks.setdefault(name, threading.Lock())
            return live

    def _store_for(self, name: str) -> Any:
        return lambda kind: (self.storage.store_for(name) if kind is None
                             else self.storage.stores[kind])

    def submit_listings(self, names: list[str], transfer_ids: dict[str, list[str]]
                        ) -> dict[str, Done]:
        return {name: self.submit(name, "listing", transfer_ids.get(name, []))
                for name in names}

    def submit(self, name: str, method: str, *args: Any, creating: bool = False) -> Done:
        def run() -> Any:
            live = self._live(name, creating)
            with self._locks[name]:
                counts = self.calls.setdefault(name, {})
                counts[method] = counts.get(method, 0) + 1
                answer = getattr(live, method)(*args)
            if method == "listing":
                answer = {**answer, "process": {"pid": os.getpid(), "node_id": None,
                                                "calls": dict(counts)}}
            return answer

        return Done(name, run)

    def call(self, name: str, method: str, *args: Any, creating: bool = False) -> Any:
        return self.submit(name, method, *args, creating=creating).result()

    def submit_groups(self, groups: dict[str, tuple[list[Any], bool]]) -> dict[str, Any]:
        """Each account's group as one apply_many (as the actor routing sends them)."""
        sent: dict[str, Any] = {}
        for name, (calls, creating) in groups.items():
            try:
                self._live(name, creating)
            except BankError as error:
                sent[name] = error
                continue
            sent[name] = self.submit(name, "apply_many", calls, creating=creating)
        return sent

    def retire_hosts(self) -> None:
        """No hosts in this routing."""

    def actor(self, name: str) -> str:
        self._live(name, creating=False)
        return name

    def live(self, name: str) -> str | None:
        return name if name in self.accounts else None

    def live_names(self) -> set[str]:
        return set(self.accounts)

    def describe(self, handle: str) -> dict[str, Any]:
        return {"state": "ALIVE", "pid": os.getpid(), "node_id": None,
                "restarts": self.restarts.get(handle, 0)}

    def retire(self, name: str) -> None:
        live = self.accounts.pop(name, None)
        if live is not None:
            live.passivate()

    def restart(self, name: str, old_pid: int | None) -> dict[str, Any]:
        self.retire(name)
        self.restarts[name] = self.restarts.get(name, 0) + 1
        self._live(name, creating=False)
        return self.describe(name)

    def coordinator_call(self, method: str, *args: Any) -> Any:
        if self._coordinator is None:
            self._coordinator = TransferCoordinator(str(self.home), self.namespace,
                                                    accounts=self)  # type: ignore[arg-type]
        return getattr(self._coordinator, method)(*args)

    def coordinator_running(self) -> bool:
        return self._coordinator is not None

    def stop_coordinator(self) -> None:
        self._coordinator = None
