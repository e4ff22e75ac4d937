"""Where each account of a namespace lives, and how a caller reaches it by name.

In ``actor`` placement every account is its own named, detached actor, named after the
account. This routing finds that actor, revives it from storage when it has none (the
account is INACTIVE), and sends it calls. It is handed the remote class to start and the
test of whether an account exists, so it knows neither the actors nor storage: the service
and the transfer coordinator each build one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError

from raybank.domain.errors import AccountNotFound, BankError, NoCoordinator, RestartTimeout
from raybank.routing import passivation
from raybank.routing.call import Call
from raybank.routing.directory import ActorDirectory
from raybank.routing.introspection import describe, live_names
from raybank.routing.options import restartable

RESTART_WAIT_S = 60.0
PASSIVATION_WAIT_S = 10.0
Group = tuple[str, tuple[Any, ...]]  # one call of a group: method, arguments


def await_restart(handle: ray.actor.ActorHandle, old_pid: int | None) -> dict[str, Any]:
    """Wait until Ray shows the crashed actor ALIVE again with a new pid; its actor info."""
    deadline = time.monotonic() + RESTART_WAIT_S
    while time.monotonic() < deadline:
        info = describe(handle)
        if info["state"] == "ALIVE" and info["pid"] not in (None, old_pid):
            return info
        time.sleep(0.02)
    raise RestartTimeout(f"actor did not come back within {RESTART_WAIT_S:.0f}s")


class CoordinatorAccess:
    """The transfer coordinator, as either placement's routing reaches it."""

    directory: ActorDirectory
    _coordinator: tuple[str, Callable[[], ray.actor.ActorHandle]] | None

    def coordinator_call(self, method: str, *args: Any) -> Any:
        """Call the transfer coordinator (started if need be) and wait for its answer."""
        if self._coordinator is None:
            raise NoCoordinator("this routing reaches no coordinator")
        name, start = self._coordinator
        return self.directory.call(name, method, *args, start=start).result()

    def coordinator_running(self) -> bool:
        return self._coordinator is not None and (
            self.directory.find(self._coordinator[0]) is not None)

    def stop_coordinator(self) -> None:
        """Kill the coordinator for good; its log stays, and its next start resumes it."""
        if self._coordinator is not None:
            self.directory.retire(self._coordinator[0])


class AccountRouting(CoordinatorAccess):
    """The actors of one namespace's accounts, by account name."""

    def __init__(self, home: Path, namespace: str, account_class: Any,
                 exists: Callable[[str], bool],
                 coordinator: tuple[str, Callable[[], ray.actor.ActorHandle]] | None = None
                 ) -> None:
        """``coordinator``: the transfer coordinator's name and how to start it, for a
        caller that reaches it too (the service; not the coordinator itself)."""
        self.home = home
        self.namespace = namespace
        self.directory = ActorDirectory(namespace)
        self._account_class = account_class
        self._exists = exists
        self._coordinator = coordinator
        self.max_live, self.idle_s = passivation.limits()

    def _starter(self, name: str, creating: bool) -> Callable[[], ray.actor.ActorHandle]:
        def start() -> ray.actor.ActorHandle:
            if not creating and not self._exists(name):
                raise AccountNotFound(f"no account named {name!r}")
            self.make_room()
            return self._account_class.options(**restartable(name, self.namespace)).remote(
                str(self.home), self.namespace, name, self.idle_s)

        return start

    def submit(self, name: str, method: str, *args: Any, creating: bool = False) -> Call:
        """Send one call to the account's actor (revived if INACTIVE) without waiting."""
        return self.directory.call(name, method, *args, start=self._starter(name, creating))

    def call(self, name: str, method: str, *args: Any, creating: bool = False) -> Any:
        """Call one method of the account's actor and wait for its answer."""
        return self.submit(name, method, *args, creating=creating).result()

    def submit_listings(self, names: list[str], transfer_ids: dict[str, list[str]]
                        ) -> dict[str, Call]:
        """Each account's ``listing`` (with its legs of ``transfer_ids``), one call each."""
        return {name: self.submit(name, "listing", transfer_ids.get(name, []))
                for name in names}

    def actor(self, name: str) -> ray.actor.ActorHandle:
        """The account's actor, revived from storage if it has none."""
        return self.directory.started(name, self._starter(name, creating=False))

    def live(self, name: str) -> ray.actor.ActorHandle | None:
        """The account's actor if it has one now (alive or restarting), without reviving."""
        return self.directory.handle(name)

    def live_names(self) -> set[str]:
        return live_names(self.namespace)

    def make_room(self) -> None:
        """Passivate the idlest account actors so that one more fits under the limit."""
        names = [name for name in live_names(self.namespace) if ":" not in name]
        if len(names) < self.max_live:
            return
        asked = {}
        for name in names:
            handle = self.directory.handle(name)
            if handle is not None:
                asked[name] = (handle, handle.idle_seconds.remote())
        idle = {}
        for name, (_, ref) in asked.items():
            try:
                idle[name] = ray.get(ref, timeout=PASSIVATION_WAIT_S)
            except RayError:
                continue  # busy, restarting or gone: it stays (or is already away)
        stops = [(name, asked[name][0].passivate_if_idle.remote(idle[name]))
                 for name in passivation.to_passivate(idle, len(names), self.max_live)]
        for name, ref in stops:
            try:
                ray.get(ref, timeout=PASSIVATION_WAIT_S)  # False: used meanwhile, it stays
            except RayError:
                self.directory.forget(name)  # it stopped: its name is free again

    def describe(self, handle: ray.actor.ActorHandle) -> dict[str, Any]:
        return describe(handle)

    def retire(self, name: str) -> None:
        """Kill the account's actor for good (it becomes INACTIVE)."""
        self.directory.retire(name)

    def restart(self, name: str, old_pid: int | None) -> dict[str, Any]:
        """Crash the account's actor, let Ray restart it, and return the new actor info."""
        handle = self.directory.crash(name)
        if handle is None:
            raise AccountNotFound(f"no live actor for {name!r}")
        return await_restart(handle, old_pid)

    def submit_groups(self, groups: dict[str, tuple[list[Group], bool]]
                      ) -> dict[str, Call | BankError]:
        """Send each account's group (calls, creating) as one ``apply_many`` to its actor;
        an account that cannot be reached is answered by its error."""
        sent: dict[str, Call | BankError] = {}
        for name, (calls, creating) in groups.items():
            try:
                sent[name] = self.submit(name, "apply_many", calls, creating=creating)
            except BankError as error:  # e.g. no such account: the whole group's answer
                sent[name] = error
        return sent

    def retire_hosts(self) -> None:
        """Nothing to do: in ``actor`` placement no actor hosts more than one account."""
