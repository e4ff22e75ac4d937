"""The account host: one Ray actor serving the accounts of its shards (hosted placement).

It holds a ``LiveAccount`` (the same exactly-once core as ``AccountActor``) per *active*
account and activates the others on demand: like an Orleans silo or an Akka shard region,
the host is the process and the accounts are entities in it. Calls for different accounts
run side by side in the actor's threads; each account has one lock, so its own calls run
one at a time, in order, as they would in an actor of its own. Inspection (``inspect``,
``process``, ``health``) runs in a concurrency group of its own, so ``accounts`` and
``status`` answer while every command thread is busy.

Passivation keeps memory bounded: at most ``max_live`` accounts stay active (the least
recently used go first), and any idle longer than ``idle_s`` goes too; an account whose
lock is held (a call in flight) is never evicted. Eviction only drops memory and open files:
every acknowledged change is already durable, and the op ids come back with the state.

Ray reruns ``__init__`` after a crash: the host starts empty and each account loads from
storage on its next call, so a restart and a cold start are the same code path.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ray

from raybank.actors.live_account import LiveAccount, StoreFor
from raybank.domain.errors import BankError, InvalidOption
from raybank.routing.hosted import INSPECTION_METHODS
from raybank.storage import layout
from raybank.storage.journal import DEFAULT_SNAPSHOT_EVERY
from raybank.storage.placement import HOSTED, Placement, read_placement
from raybank.storage.shard_journal import ShardStore

COMMAND_METHODS = frozenset({"open", "deposit", "withdraw", "hold", "release",
                             "transfer_out", "transfer_in", "apply_many"})
INSPECT = "inspect"
INSPECT_CONCURRENCY = 4
MAX_CONCURRENCY = 32  # command threads: enough to overlap many accounts' syncs
DEFAULT_MAX_LIVE = 25_000  # ~3.5 KB each, ~90 MB: a 100,000-account bank stays active
SYNC_EVERY = 256  # accounts of one apply_groups held and synced together
DEFAULT_IDLE_S = 600.0
SWEEP_MIN_S = 1.0


def passivation_limits() -> tuple[int, float]:
    """RAYBANK_HOST_MAX_LIVE and RAYBANK_IDLE_S, read by the process that starts a host
    (they travel as its constructor arguments, so a restart keeps them)."""
    try:
        max_live = int(os.environ.get("RAYBANK_HOST_MAX_LIVE", DEFAULT_MAX_LIVE))
        idle_s = float(os.environ.get("RAYBANK_IDLE_S", DEFAULT_IDLE_S))
    except ValueError as error:
        raise InvalidOption(f"invalid RAYBANK_HOST_MAX_LIVE or RAYBANK_IDLE_S: {error}"
                            ) from None
    if max_live < 1 or not idle_s > 0:
        raise InvalidOption("RAYBANK_HOST_MAX_LIVE must be at least 1 and RAYBANK_IDLE_S "
                            "greater than 0")
    return max_live, idle_s


class AccountHost:
    """Many accounts in one process, each with its own lock and the same exactly-once core."""

    def __init__(self, home: str, namespace: str, index: int,
                 max_live: int = DEFAULT_MAX_LIVE, idle_s: float = DEFAULT_IDLE_S, *,
                 sweep: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        """``sweep`` starts the thread that passivates idle accounts (tests call
        ``passivate_idle`` themselves); ``clock`` measures idleness."""
        self._home = Path(home)
        self._index = index
        self._namespace = namespace
        self._placement = read_placement(self._home, namespace) or Placement(HOSTED, 1, 1)
        self._shards: dict[int, ShardStore] = {}
        self._shards_guard = threading.Lock()
        self._snapshot_every = int(os.environ.get("RAYBANK_SNAPSHOT_EVERY",
                                                  DEFAULT_SNAPSHOT_EVERY))
        self._max_live, self._idle_s, self._clock = max_live, idle_s, clock
        self._live: OrderedDict[str, LiveAccount] = OrderedDict()  # least recent first
        self._used: dict[str, float] = {}  # when each active account's last call ended
        self._locks: dict[str, threading.Lock] = {}  # one per active account
        self._calls: dict[str, Counter[str]] = {}  # per active account, as an actor's
        self._guard = threading.Lock()  # the four maps above and the counters
        self._activations = 0
        self._evictions = 0
        self._totals: Counter[str] = Counter()  # every call since this incarnation started
        if sweep:
            threading.Thread(target=self._sweep, daemon=True, name="host-sweep").start()

    # -- the seam to storage ---------------------------------------------------------------
    def _store_for(self, name: str) -> StoreFor:
        """What ``LiveAccount`` writes through: the journal of the account's shard, taken
        over by this host on first use (one storage format: ``kind`` does not apply)."""
        shard = self._placement.shard_of(name)
        return lambda kind: self._shard(shard)

    def _shard(self, shard: int) -> ShardStore:
        """The shard's store, opened for writing on first use: the takeover fences any
        earlier writer of it (a stale incarnation of this host, anywhere)."""
        with self._shards_guard:
            store = self._shards.get(shard)
            if store is None:
                store = self._shards[shard] = ShardStore(
                    layout.shard_dir(self._home, self._namespace, shard), writer=True,
                    snapshot_every=self._snapshot_every)
            return store

    # -- one account at a time -------------------------------------------------------------
    @contextlib.contextmanager
    def _using(self, name: str) -> Iterator[tuple[LiveAccount, Counter[str]]]:
        """The account, activated if need be, with its lock held for the whole call."""
        while True:
            with self._guard:
                lock = self._locks.setdefault(name, threading.Lock())
            lock.acquire()
            with self._guard:
                if self._locks.get(name) is lock:  # not evicted while we waited for it
                    live = self._live.get(name)
                    if live is None:
                        live = self._live[name] = LiveAccount(
                            name, self._store_for(name), self._home)
                        self._calls[name] = Counter()
                        self._activations += 1
                    calls = self._calls[name]
                    break
            lock.release()
        try:
            yield live, calls
        finally:
            with self._guard:
                self._used[name] = self._clock()
                self._live.move_to_end(name)
            lock.release()
            self._evict(over_only=True)

    def _counted(self, method: str, args: tuple[Any, ...]) -> Counter[str]:
        """The calls one request makes (a group counts each of its calls too), added to
        this incarnation's totals."""
        if method not in COMMAND_METHODS | INSPECTION_METHODS:
            raise ValueError(f"{method!r} is not a method of an account")
        counted = Counter([method])
        if method == "apply_many":
            counted.update(each for each, _ in args[0])
        with self._guard:
            self._totals.update(counted)
        return counted

    def call(self, name: str, method: str, *args: Any) -> Any:
        """Run one of ``LiveAccount``'s commands on ``name``, in the account's order."""
        counted = self._counted(method, args)
        with self._using(name) as (live, calls):
            calls.update(counted)
            answer = getattr(live, method)(*args)
            if method == "listing":
                answer = {**answer, "process": {**self._where(), "calls": dict(calls)}}
            return answer

    @ray.method(concurrency_group=INSPECT)
    def inspect(self, name: str, method: str, *args: Any) -> Any:
        """A read (summary, fingerprint, listing) in the inspection threads."""
        if method not in INSPECTION_METHODS:
            raise ValueError(f"{method!r} is not an inspection")
        return self.call(name, method, *args)

    def apply_groups(self, groups: dict[str, list[tuple[str, tuple[Any, ...]]]]
                     ) -> dict[str, list[Any] | BankError]:
        """Many accounts' groups in one round trip and one sync per shard (batch, simulate,
        the coordinator's legs).

        Each account's group runs in order (``apply_many``) with its lock held until its
        shard is synced, so nothing reads a change before it is durable. Its answer is the
        list of per-call answers, or the BankError that answered the whole group: a failed
        sync answers every group of its shard, and their accounts reload from disk.
        """
        answers: dict[str, list[Any] | BankError] = {}
        names = sorted(groups)  # locks taken in one order: no two calls deadlock
        for start in range(0, len(names), SYNC_EVERY):
            answers.update(self._apply_synced({name: groups[name]
                                               for name in names[start:start + SYNC_EVERY]}))
        return {name: answers[name] for name in groups}

    def _apply_synced(self, groups: dict[str, list[tuple[str, tuple[Any, ...]]]]
                      ) -> dict[str, list[Any] | BankError]:
        """Run the groups with their accounts' locks held, then sync each shard written."""
        answers: dict[str, list[Any] | BankError] = {}
        written: dict[int, list[LiveAccount]] = {}
        with contextlib.ExitStack() as held:
            for name, calls in groups.items():
                try:
                    counted = self._counted("apply_many", (calls,))
                    live, counts = held.enter_context(self._using(name))
                    counts.update(counted)
                    answers[name] = live.apply_many(calls, sync=False)
                except BankError as error:
                    answers[name] = error
                    continue
                written.setdefault(self._placement.shard_of(name), []).append(live)
            for shard, accounts in written.items():
                try:
                    self._shard(shard).sync_written()
                except BankError as error:
                    for live in accounts:
                        live.drop_unacknowledged()
                        answers[live.name] = error
        return answers

    @ray.method(concurrency_group=INSPECT)
    def listings(self, wanted: dict[str, list[str]]) -> dict[str, dict[str, Any] | BankError]:
        """Many accounts' ``listing`` (each with its legs of the given transfers) in one
        call, in the inspection threads: what `accounts` reads of a big bank."""
        answers: dict[str, dict[str, Any] | BankError] = {}
        for name, transfer_ids in wanted.items():
            try:
                answers[name] = self.call(name, "listing", transfer_ids)
            except BankError as error:
                answers[name] = error
        return answers

    def evict(self, name: str) -> bool:
        """Passivate one account now (`kill` without --restart), waiting for its call."""
        with self._guard:
            lock = self._locks.get(name)
        if lock is None:
            return False
        with lock, self._guard:
            if self._locks.get(name) is not lock:
                return False
            live = self._drop(name)
        live.passivate()
        return True

    # -- passivation -----------------------------------------------------------------------
    def _drop(self, name: str) -> LiveAccount:
        """Forget an active account; the caller holds its lock and the guard."""
        del self._locks[name]
        self._used.pop(name, None)
        self._calls.pop(name, None)
        self._evictions += 1
        return self._live.pop(name)

    def _evict(self, over_only: bool) -> int:
        """Passivate the least recently used accounts beyond ``max_live`` and (unless
        ``over_only``) every one idle longer than ``idle_s``; skip any with a call in flight."""
        evicted = 0
        while True:
            with self._guard:
                victim = self._victim(over_only)
                if victim is None:
                    return evicted
                name, lock = victim
                live = self._drop(name)
            try:
                live.passivate()
            finally:
                lock.release()
            evicted += 1

    def _victim(self, over_only: bool) -> tuple[str, threading.Lock] | None:
        """The next account to passivate, its lock taken; the caller holds the guard."""
        over = len(self._live) - self._max_live
        idle_before = self._clock() - self._idle_s
        for name in self._live:
            if over <= 0 and (over_only or self._used.get(name, idle_before) > idle_before):
                return None  # the rest were used more recently still
            lock = self._locks[name]
            if lock.acquire(blocking=False):  # never one with a call in flight
                return name, lock
        return None

    def passivate_idle(self) -> int:
        """Passivate every account idle longer than ``idle_s`` (and any beyond the limit)."""
        return self._evict(over_only=False)

    def _sweep(self) -> None:
        while True:
            time.sleep(max(SWEEP_MIN_S, self._idle_s / 4))
            self.passivate_idle()

    # -- inspection ------------------------------------------------------------------------
    def _where(self) -> dict[str, Any]:
        # Outside a Ray process (unit tests) the node is unknown; asking Ray there would
        # start a local Ray instance.
        node_id = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
        return {"pid": os.getpid(), "node_id": node_id}

    @ray.method(concurrency_group=INSPECT)
    def process(self) -> dict[str, Any]:
        """Where this incarnation runs, what it holds, and what it has been asked."""
        with self._guard:
            return {**self._where(), "host": self._index, "live": len(self._live),
                    "activations": self._activations, "evictions": self._evictions,
                    "calls": dict(self._totals)}

    @ray.method(concurrency_group=INSPECT)
    def health(self) -> bool:
        return True

    def active(self) -> list[str]:
        """The active accounts, least recently used first."""
        with self._guard:
            return list(self._live)


RemoteAccountHost = ray.remote(max_concurrency=MAX_CONCURRENCY,
                               concurrency_groups={INSPECT: INSPECT_CONCURRENCY})(AccountHost)
