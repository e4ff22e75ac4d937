"""The named actors of one namespace: found by name, started on demand, called, retired.

A handle found by name is kept while it works (a look-up costs as much as a call). Nothing
here knows what the actors are: whoever asks for one says how to start it, so the remote
classes stay in the layers above and this one can be read without them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ray

from raybank.domain.errors import ReleaseTimeout
from raybank.routing.call import Call
from raybank.routing.introspection import actor_id

RELEASE_WAIT_S = 30.0
Start = Callable[[], ray.actor.ActorHandle]


class ActorDirectory:
    """Handles of one namespace's named actors, by name."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._handles: dict[str, ray.actor.ActorHandle] = {}

    def find(self, name: str) -> ray.actor.ActorHandle | None:
        """The actor registered under ``name`` (alive or restarting), or None."""
        try:
            return ray.get_actor(name, namespace=self.namespace)
        except ValueError:
            return None

    def handle(self, name: str) -> ray.actor.ActorHandle | None:
        """The cached or registered actor, or None; never starts one."""
        handle = self._handles.get(name) or self.find(name)
        if handle is not None:
            self._handles[name] = handle
        return handle

    def forget(self, name: str) -> None:
        """Drop a cached handle whose actor is gone."""
        self._handles.pop(name, None)

    def started(self, name: str, start: Start) -> ray.actor.ActorHandle:
        """The cached or registered actor, else the one ``start()`` starts (race-safe)."""
        handle = self.handle(name) or start()
        self._handles[name] = handle
        return handle

    def call(self, name: str, method: str, *args: Any, start: Start) -> Call:
        """Send ``method`` to the named actor (started if need be) without waiting.

        If the actor was killed for good before it answered, the call is sent once more to
        its successor: safe because every change carries an op id.
        """
        return Call(name, lambda: self.started(name, start), method, args,
                    lambda old: self.await_release(name, old))

    def await_release(self, name: str, old: ray.actor.ActorHandle) -> None:
        """Wait until ``name`` no longer points at ``old`` (killed), so it can start anew."""
        self._handles.pop(name, None)
        deadline = time.monotonic() + RELEASE_WAIT_S
        while time.monotonic() < deadline:
            handle = self.find(name)
            if handle is None or actor_id(handle) != actor_id(old):
                return
            time.sleep(0.01)
        raise ReleaseTimeout(f"the name {name!r} was not released by its dead actor")

    def retire(self, name: str) -> None:
        """Kill the named actor for good, if there is one, and wait for its name to free."""
        handle = self.find(name)
        if handle is not None:
            ray.kill(handle, no_restart=True)
            self.await_release(name, handle)

    def crash(self, name: str) -> ray.actor.ActorHandle | None:
        """Kill the actor's process and let Ray restart it; returns its handle."""
        handle = self.handle(name)
        if handle is not None:
            ray.kill(handle, no_restart=False)
        return handle
