"""Shard journals without Ray: durable appends per second, and the disk a big bank takes.

    python benchmarks/shard_append.py [--seconds 5] [--accounts 100000] [--journal-accounts 1000]

1. Durable appends/s: deposits, each acknowledged only once synced (``append(sync=True)``,
   as a host does for one command), from 1 thread and from 8 threads into one shard, and
   from 8 threads into 8 shards (one each). With 8 threads into one shard, a sync started
   by one thread covers the records the others wrote meanwhile (group commit): the table
   shows appends per fdatasync.
2. Disk: ``--accounts`` accounts (a ``created`` and a ``deposit`` event each) written into
   64 shards, synced in groups of 1,000 as `batch` would; then the time to open (scan) every
   shard, as hosts do when they start. Beside it the per-account JournalStore (actor
   placement) for ``--journal-accounts`` accounts, extrapolated linearly to ``--accounts``
   and marked so: its cost is per account (a folder and a preallocated journal). Also the
   Python memory of the 64 open shards' indexes (tracemalloc), what a bank's hosts hold for
   it before any account is loaded, and what each account holds once loaded (active).

Works in a temporary folder on the same filesystem as /tmp; prints a table. Not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

from raybank.domain.account import Account
from raybank.storage.journal import JournalStore
from raybank.storage.placement import shard_of
from raybank.storage.shard_journal import ShardStore

SHARDS = 64
GROUP = 1_000


def opened(store, name: str, *, sync: bool = True) -> Account:
    account = Account(name=name)
    event = account.decide_open(f"open-{name}", Decimal("100.00"), Decimal("0.00"))
    account.apply(event)
    store.append(account, event, sync=sync)
    return account


def deposit(store, account: Account, op_id: str, *, sync: bool = True) -> None:
    event = account.decide_deposit(op_id, Decimal("1.00"))
    account.apply(event)
    store.append(account, event, sync=sync)


def durable_rate(folder: Path, threads: int, shards: int, seconds: float
                 ) -> tuple[float, float]:
    """(appends/s, appends per fdatasync) of ``threads`` threads appending durably, thread
    ``t`` into shard ``t % shards``, each to accounts of its own."""
    stores = [ShardStore(folder / f"{s:03d}", writer=True) for s in range(shards)]
    accounts = [[opened(stores[t % shards], f"t{t}-a{a}") for a in range(8)]
                for t in range(threads)]
    before = sum(store.syncs for store in stores)
    counts = [0] * threads
    start_line = threading.Barrier(threads + 1)
    deadline = [0.0]

    def client(t: int) -> None:
        store, mine = stores[t % shards], accounts[t]
        start_line.wait()
        while time.perf_counter() < deadline[0]:
            deposit(store, mine[counts[t] % len(mine)], f"t{t}-{counts[t]}")
            counts[t] += 1

    workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    deadline[0] = time.perf_counter() + seconds
    started = time.perf_counter()
    start_line.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    syncs = sum(store.syncs for store in stores) - before
    for store in stores:
        store.close_all()
    return sum(counts) / elapsed, sum(counts) / max(syncs, 1)


def disk_use(folder: Path) -> tuple[int, int]:
    """(bytes allocated on disk, apparent bytes) of every file and folder under ``folder``
    (as `du` counts: an account's folder takes a block of its own)."""
    allocated = apparent = 0
    for path in folder.rglob("*"):
        info = path.stat()
        allocated += info.st_blocks * 512
        apparent += info.st_size
    return allocated, apparent


def bank_in_shards(folder: Path, accounts: int) -> tuple[float, float, int]:
    """Write the big bank; returns (seconds to write, seconds to open every shard, bytes
    of Python memory the open shards' indexes hold, bytes each account holds once loaded:
    what an active account costs a host beyond its index entry)."""
    started = time.perf_counter()
    stores = [ShardStore(folder / f"{s:03d}", writer=True) for s in range(SHARDS)]
    group: list[tuple[ShardStore, str]] = []
    for i in range(accounts):
        name = f"acct-{i:06d}"
        store = stores[shard_of(name, SHARDS)]
        deposit(store, opened(store, name, sync=False), f"first-{name}", sync=False)
        group.append((store, name))
        if len(group) == GROUP or i == accounts - 1:
            for each, synced in group:
                each.sync(synced)
            group.clear()
    for store in stores:
        store.close_all()
    written = time.perf_counter() - started
    started = time.perf_counter()
    reopened = [ShardStore(folder / f"{s:03d}", writer=True) for s in range(SHARDS)]
    scanned = time.perf_counter() - started
    if sum(len(store.names()) for store in reopened) != accounts:
        raise SystemExit("accounts lost: the benchmark is broken")
    for store in reopened:
        store.close_all()
    tracemalloc.start()  # a second opening, traced: tracing slows it, so it is not timed
    reopened = [ShardStore(folder / f"{s:03d}", writer=True) for s in range(SHARDS)]
    held = tracemalloc.get_traced_memory()[0]
    active = [store.load(name) for store in reopened for name in store.names()]
    held_active = tracemalloc.get_traced_memory()[0] - held
    tracemalloc.stop()
    for store in reopened:
        store.close_all()
    return written, scanned, held, held_active // len(active)


def bank_in_journals(folder: Path, accounts: int) -> float:
    started = time.perf_counter()
    store = JournalStore(folder)
    for i in range(accounts):
        name = f"acct-{i:06d}"
        deposit(store, opened(store, name), f"first-{name}")
        store.close(name)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--journal-accounts", type=int, default=1_000)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="raybank-shard-bench-"))
    try:
        print(f"durable appends ({options.seconds:g} s each, deposits acknowledged one by one)")
        print(f"{'case':<28} {'appends/s':>10} {'appends/sync':>13}")
        for label, threads, shards in (("1 thread, 1 shard", 1, 1),
                                       ("8 threads, 1 shard", 8, 1),
                                       ("8 threads, 8 shards", 8, 8)):
            rate, per_sync = durable_rate(folder / label.replace(" ", "_").replace(",", ""),
                                          threads, shards, options.seconds)
            print(f"{label:<28} {rate:>10,.0f} {per_sync:>13.1f}")
        n, m = options.accounts, options.journal_accounts
        written, scanned, held, per_active = bank_in_shards(folder / "bank", n)
        allocated, apparent = disk_use(folder / "bank")
        print(f"\n{n:,} accounts in {SHARDS} shards: written in {written:.1f} s "
              f"({n / written:,.0f} accounts/s, groups of {GROUP:,}); every shard opened "
              f"(scanned) in {scanned:.2f} s; their indexes hold {held / 2**20:,.1f} MiB; "
              f"an account loaded (active) holds {per_active:,} bytes more")
        print(f"  disk {allocated / 2**20:,.1f} MiB allocated, {apparent / 2**20:,.1f} MiB "
              f"apparent ({allocated / n:,.0f} bytes an account)")
        seconds = bank_in_journals(folder / "journals", m)
        allocated, apparent = disk_use(folder / "journals")
        print(f"{m:,} accounts as per-account journals (actor placement): written in "
              f"{seconds:.1f} s, disk {allocated / 2**20:,.1f} MiB allocated, "
              f"{apparent / 2**20:,.1f} MiB apparent ({allocated / m:,.0f} bytes an account)")
        print(f"  EXTRAPOLATED to {n:,} accounts: {allocated / m * n / 2**30:,.1f} GiB "
              f"allocated, {apparent / m * n / 2**30:,.1f} GiB apparent")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    os.umask(0o077)
    main()
