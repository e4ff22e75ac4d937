"""Persistence through a pool of persistence actors: the book's ActorPool example, made durable.

For storage that should not be opened once per account (a database connection, a remote
store), account actors can hand their writes to a few persistence actors that hold storage
open. Three things differ from the book's version, on purpose:

* Routing is by a stable hash of the account name, not round-robin: every write of one
  account goes to the same persistence actor, so each journal keeps exactly one writer and
  its order. (``ray.util.ActorPool`` hands work to whichever actor is idle, which would let
  two processes append to one journal.)
* The account waits for the write: ``append`` returns only once the event is on disk, so
  nothing is acknowledged that a crash could lose. The book's fire-and-forget save could.
* An append is idempotent. A persistence actor that dies after an event is durable and before
  it replies gets the same append again from Ray's retry; it keeps its own copy of each
  account it writes (loaded from storage after a restart, events folded in), recognises the
  event by its seq and op id, and answers it as done instead of writing it twice.

That copy is also what a snapshot is made from, so an append ships only its event: the
account's state, which holds every op id ever applied, never crosses Ray.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import ray
from ray.exceptions import RayTaskError

from raybank.domain.account import Account, Event, applied_op_of
from raybank.domain.error_registry import unwrap_remote
from raybank.domain.errors import AccountExists, AccountNotFound, StorageConflict
from raybank.routing.options import restartable
from raybank.testing.faults import POOL_AFTER_APPEND, crash_point
from raybank.storage import Storage
from raybank.storage.base import AccountStore

POOL_SIZE = 3
ACTOR_PREFIX = "raybank:persistence-"  # ':' cannot appear in an account name


class PersistenceActor:
    """Holds the namespace's storage open and writes for the accounts routed to it."""

    def __init__(self, home: str, namespace: str) -> None:
        self._home = Path(home)
        self._storage = Storage(self._home, namespace)
        # This actor's own state of each account it writes, keyed by (kind, name): the
        # account as its storage holds it, including appends not yet synced.
        self._accounts: dict[tuple[str, str], Account] = {}

    def load(self, kind: str, name: str, repair: bool) -> Account:
        account = self._storage.stores[kind].load(name, repair=repair)
        if repair:  # the account's writer starts over from storage: so does this copy
            # Shared, not copied: Ray sends the caller a serialized copy of the result.
            self._accounts[(kind, name)] = account
        return account

    def append(self, kind: str, name: str, event: Event, sync: bool) -> None:
        store = self._storage.stores[kind]
        if event.seq == 1 and not store.exists(name):
            self._forget(kind, name)  # a new account, perhaps one deleted and made again
        account = self._account(kind, name)
        if event.seq <= account.seq:
            if account.applied.get(event.op_id) == applied_op_of(event):
                return  # already durable: Ray retried an append whose reply was lost
            if event.seq == 1:
                raise AccountExists(f"account {name!r} already exists")
            raise StorageConflict(f"event {event.seq} of {name!r} (op id {event.op_id!r}) "
                                  f"conflicts with the stored history, which is at event "
                                  f"{account.seq}")
        if event.seq != account.seq + 1:
            raise StorageConflict(f"event {event.seq} of {name!r} does not follow the stored "
                                  f"event {account.seq}")
        try:
            account.apply(event)
            store.append(account, event, sync=sync)
        except BaseException:
            self._forget(kind, name)
            raise
        crash_point(self._home, POOL_AFTER_APPEND, name)

    def _account(self, kind: str, name: str) -> Account:
        """This actor's state of the account, read from storage on first use."""
        account = self._accounts.get((kind, name))
        if account is None:
            try:
                account = self._storage.stores[kind].load(name, repair=True)
            except AccountNotFound:
                account = Account(name=name)
            self._accounts[(kind, name)] = account
        return account

    def _forget(self, kind: str, name: str) -> None:
        """Drop what is held for the account; the next use reads storage again."""
        self._accounts.pop((kind, name), None)
        self._storage.stores[kind].close(name)

    def sync(self, kind: str, name: str) -> None:
        try:
            self._storage.stores[kind].sync(name)
        except BaseException:
            self._forget(kind, name)
            raise

    def events(self, kind: str, name: str) -> list[Event]:
        return self._storage.stores[kind].events(name)

    def close(self, kind: str, name: str) -> None:
        self._forget(kind, name)


RemotePersistenceActor = ray.remote(PersistenceActor)


def persistence_actor(home: Path, namespace: str, name: str) -> ray.actor.ActorHandle:
    """The pool member that owns ``name``'s writes, started on first use."""
    index = zlib.crc32(name.encode("utf-8")) % POOL_SIZE
    return RemotePersistenceActor.options(
        **restartable(f"{ACTOR_PREFIX}{index}", namespace)).remote(str(home), namespace)


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
        # Only the event travels: the persistence actor folds it into its own copy.
        self._call(account.name, "append", account.name, event, sync)

    def sync(self, name: str) -> None:
        self._call(name, "sync", name)

    def events(self, name: str) -> list[Event]:
        return self._call(name, "events", name)  # type: ignore[return-value]

    def close(self, name: str) -> None:
        self._call(name, "close", name)
