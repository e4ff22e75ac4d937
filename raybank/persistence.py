"""Persistence through a pool of persistence actors: the book's ActorPool example, made durable.

For storage that should not be opened once per account (a database connection, a remote
store), account actors can hand their writes to a few persistence actors that hold storage
open. Two things differ from the book's version, on purpose:

* Routing is by a stable hash of the account name, not round-robin: every write of one
  account goes to the same persistence actor, so each journal keeps exactly one writer and
  its order. (``ray.util.ActorPool`` hands work to whichever actor is idle, which would let
  two processes append to one journal.)
* The account waits for the write: ``append`` returns only once the event is on disk, so
  nothing is acknowledged that a crash could lose. The book's fire-and-forget save could.

Persistence actors are named, detached and restarted like accounts; a write in flight when
one dies is retried by Ray, and the op id in the event makes the retry harmless.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import ray
from ray.exceptions import RayTaskError

from raybank.account import Account, Event
from raybank.errors import unwrap_remote
from raybank.storage import Storage
from raybank.storage.base import AccountStore

POOL_SIZE = 3
ACTOR_PREFIX = "raybank:persistence-"  # ':' cannot appear in an account name


class PersistenceActor:
    """Holds the namespace's storage open and writes for the accounts routed to it."""

    def __init__(self, home: str, namespace: str) -> None:
        self._storage = Storage(Path(home), namespace)

    def load(self, kind: str, name: str, repair: bool) -> Account:
        return self._storage.stores[kind].load(name, repair=repair)

    def append(self, kind: str, account: Account, event: Event, sync: bool) -> None:
        self._storage.stores[kind].append(account, event, sync=sync)

    def sync(self, kind: str, name: str) -> None:
        self._storage.stores[kind].sync(name)

    def events(self, kind: str, name: str) -> list[Event]:
        return self._storage.stores[kind].events(name)

    def close(self, kind: str, name: str) -> None:
        self._storage.stores[kind].close(name)


RemotePersistenceActor = ray.remote(PersistenceActor)


def persistence_actor(home: Path, namespace: str, name: str) -> ray.actor.ActorHandle:
    """The pool member that owns ``name``'s writes, started on first use."""
    index = zlib.crc32(name.encode("utf-8")) % POOL_SIZE
    return RemotePersistenceActor.options(
        name=f"{ACTOR_PREFIX}{index}", namespace=namespace, lifetime="detached",
        get_if_exists=True, max_restarts=-1, max_task_retries=-1, num_cpus=0,
    ).remote(str(home), namespace)


class PooledStore(AccountStore):
    """An AccountStore whose reads and writes happen in the account's persistence actor."""

    def __init__(self, inner: AccountStore, home: Path, namespace: str) -> None:
        super().__init__(inner.root)
        self.kind, self.marker = inner.kind, inner.marker
        self._home, self._namespace = home, namespace

    def _call(self, name: str, method: str, *args: object) -> object:
        actor = persistence_actor(self._home, self._namespace, name)
        try:
            return ray.get(getattr(actor, method).remote(self.kind, *args))
        except RayTaskError as error:
            raise unwrap_remote(error) from None

    def _write_initial(self, folder: Path, account: Account, event: Event) -> None:
        raise NotImplementedError("pooled stores create accounts in the persistence actor")

    def load(self, name: str, *, repair: bool = False) -> Account:
        return self._call(name, "load", name, repair)  # type: ignore[return-value]

    def append(self, account: Account, event: Event, *, sync: bool = True) -> None:
        self._call(account.name, "append", account, event, sync)

    def sync(self, name: str) -> None:
        self._call(name, "sync", name)

    def events(self, name: str) -> list[Event]:
        return self._call(name, "events", name)  # type: ignore[return-value]

    def close(self, name: str) -> None:
        self._call(name, "close", name)
