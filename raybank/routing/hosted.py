"""Where each account lives in ``hosted`` placement: account -> shard -> host actor.

The namespace's placement names the number of shards and hosts; an account's shard is a
stable hash of its name and the shard's host is ``shard % hosts`` (storage.placement). Hosts
are named, detached actors ``raybank:host-<i>`` (':' never appears in an account name),
started on demand with the options of every raybank actor, and reached through the same
``Call`` (one retry after a death). The surface is ``AccountRouting``'s, so the service and
the coordinator use either without knowing which.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray

from raybank.domain.errors import AccountNotFound, BankError
from raybank.routing.accounts import CoordinatorAccess, Group, await_restart
from raybank.routing.call import Call
from raybank.routing.directory import ActorDirectory
from raybank.routing.introspection import actor_id, describe, live_names
from raybank.routing.options import restartable
from raybank.storage.placement import Placement

HOST_PREFIX = "raybank:host-"
# Reads a host answers in its inspection threads, so they answer while it is busy.
INSPECTION_METHODS = frozenset({"summary", "fingerprint", "listing"})


def host_name(index: int) -> str:
    return f"{HOST_PREFIX}{index}"


class HostedNames:
    """The account names served by a live host: what ``live_names`` is in this placement
    (a host serves every account of its shards, active or not)."""

    def __init__(self, placement: Placement, hosts: set[str]) -> None:
        self._placement, self._hosts = placement, hosts

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and host_name(self._placement.host_of(name)) in self._hosts


class SharedCall:
    """One host's ``apply_groups`` call, awaited once however many groups ask for it."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self._lock = threading.Lock()
        self._answers: dict[str, Any] | None = None
        self._error: BankError | None = None

    def answers(self) -> dict[str, Any]:
        with self._lock:
            if self._answers is None and self._error is None:
                try:
                    self._answers = self.call.result()
                except BankError as error:
                    self._error = error
        if self._error is not None:
            raise self._error
        return self._answers or {}


class GroupShare:
    """One account's part of a host's call for many accounts (``apply_groups``,
    ``listings``): ``result()`` like ``Call.result()`` on that account's own call (its
    answer, or the error that answered it), and ``handle``, the host that answered."""

    def __init__(self, shared: SharedCall, name: str) -> None:
        self._shared, self._name = shared, name

    @property
    def handle(self) -> ray.actor.ActorHandle:
        return self._shared.call.handle

    def result(self) -> list[Any]:
        answer = self._shared.answers()[self._name]
        if isinstance(answer, BaseException):
            raise answer
        return answer


class HostedRouting(CoordinatorAccess):
    """The host actors of one namespace's accounts, by account name."""

    def __init__(self, home: Path, namespace: str, host_class: Any, placement: Placement,
                 host_args: tuple[Any, ...] = (),
                 coordinator: tuple[str, Callable[[], ray.actor.ActorHandle]] | None = None
                 ) -> None:
        """``host_args``: constructor arguments after (home, namespace, index), such as
        the passivation limits; ``coordinator`` as for ``AccountRouting``."""
        self.home = home
        self.namespace = namespace
        self.placement = placement
        self.directory = ActorDirectory(namespace)
        self._host_class = host_class
        self._host_args = host_args
        self._coordinator = coordinator
        self._host_ids: dict[str, str] = {}  # actor id -> host name, for describe

    def host_of(self, name: str) -> str:
        """The name of the host actor that serves this account."""
        return host_name(self.placement.host_of(name))

    def _starter(self, host: str) -> Callable[[], ray.actor.ActorHandle]:
        index = int(host.removeprefix(HOST_PREFIX))
        return lambda: self._host_class.options(**restartable(host, self.namespace)).remote(
            str(self.home), self.namespace, index, *self._host_args)

    def submit(self, name: str, method: str, *args: Any, creating: bool = False) -> Call:
        """Send one call for the account to its host (started if need be) without waiting.

        ``creating`` changes nothing here: the host answers for a missing account itself.
        """
        host = self.host_of(name)
        remote = "inspect" if method in INSPECTION_METHODS else "call"
        return self.directory.call(host, remote, name, method, *args,
                                   start=self._starter(host))

    def call(self, name: str, method: str, *args: Any, creating: bool = False) -> Any:
        return self.submit(name, method, *args, creating=creating).result()

    def submit_groups(self, groups: dict[str, tuple[list[Group], bool]]
                      ) -> dict[str, GroupShare]:
        """One ``apply_groups`` per host for all its accounts' groups: one round trip each."""
        by_host: dict[str, dict[str, list[Group]]] = {}
        for name, (calls, _) in groups.items():
            by_host.setdefault(self.host_of(name), {})[name] = calls
        sent: dict[str, GroupShare] = {}
        for host, host_groups in by_host.items():
            shared = SharedCall(self.directory.call(host, "apply_groups", host_groups,
                                                    start=self._starter(host)))
            sent.update((name, GroupShare(shared, name)) for name in host_groups)
        return sent

    def submit_listings(self, names: list[str], transfer_ids: dict[str, list[str]]
                        ) -> dict[str, GroupShare]:
        """Each account's ``listing`` (with its legs of ``transfer_ids``), one ``listings``
        call per host for all of its accounts: a bank of 100,000 accounts is read in a few
        round trips, not 100,000."""
        by_host: dict[str, list[str]] = {}
        for name in names:
            by_host.setdefault(self.host_of(name), []).append(name)
        sent: dict[str, GroupShare] = {}
        for host, host_names in by_host.items():
            wanted = {name: transfer_ids.get(name, []) for name in host_names}
            shared = SharedCall(self.directory.call(host, "listings", wanted,
                                                    start=self._starter(host)))
            sent.update((name, GroupShare(shared, name)) for name in host_names)
        return sent

    def actor(self, name: str) -> ray.actor.ActorHandle:
        """The account's host, started if it is not running."""
        host = self.host_of(name)
        return self.directory.started(host, self._starter(host))

    def live(self, name: str) -> ray.actor.ActorHandle | None:
        """The account's host if it runs now (alive or restarting), without starting it."""
        return self.directory.handle(self.host_of(name))

    def live_names(self) -> HostedNames:
        return HostedNames(self.placement, live_names(self.namespace))

    def describe(self, handle: ray.actor.ActorHandle) -> dict[str, Any]:
        """The host's actor info, with the host's name."""
        wanted = actor_id(handle)
        if wanted not in self._host_ids:  # one look-up per host, not per account
            for host in map(host_name, range(self.placement.hosts)):
                found = self.directory.handle(host)
                if found is not None:
                    self._host_ids[actor_id(found)] = host
        return {**describe(handle), "host": self._host_ids.get(wanted)}

    def retire(self, name: str) -> None:
        """Passivate the account in its host (it becomes INACTIVE); the host runs on."""
        host = self.host_of(name)
        if self.directory.handle(host) is not None:
            self.directory.call(host, "evict", name, start=self._starter(host)).result()

    def restart(self, name: str, old_pid: int | None) -> dict[str, Any]:
        """Crash the account's host, let Ray restart it, and return its new actor info."""
        handle = self.directory.crash(self.host_of(name))
        if handle is None:
            raise AccountNotFound(f"no live host for {name!r}")
        return {**await_restart(handle, old_pid), "host": self.host_of(name)}

    def retire_hosts(self) -> None:
        """Kill every host of the namespace for good (a throwaway namespace is removed)."""
        for index in range(self.placement.hosts):
            self.directory.retire(host_name(index))
