"""Framed append-only file vs SQLite (WAL, synchronous=FULL) as the account journal.

Measures, on this machine, what issue 3 asks to compare before choosing a format:
durable appends per second (one fsync'd/committed event at a time, as the actor acknowledges
them), and the time to recover an account (read the tail after a snapshot / read all rows).

    python benchmarks/journal_formats.py [--events 5000]

Prints a table and writes benchmarks/results/journal_formats.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from raybank.domain.account import Account
from raybank.storage import JournalStore
from raybank.storage.codecs import event_record


def framed_file(root: Path, events: int) -> dict[str, float]:
    store = JournalStore(root / "framed", snapshot_every=100)
    account = Account(name="bench")
    started = time.perf_counter()
    event = account.decide_open("open", Decimal("0"), Decimal("0"))
    account.apply(event)
    store.append(account, event)
    for i in range(events - 1):
        event = account.decide_deposit(f"d{i}", Decimal("1.00"))
        account.apply(event)
        store.append(account, event)
    append_s = time.perf_counter() - started
    store.close_all()
    started = time.perf_counter()
    recovered = JournalStore(root / "framed").load("bench")
    recover_s = time.perf_counter() - started
    started = time.perf_counter()
    history = JournalStore(root / "framed").events("bench")
    history_s = time.perf_counter() - started
    assert recovered.balance == account.balance and len(history) == events
    return {"appends_per_s": events / append_s, "recover_ms": recover_s * 1000,
            "full_history_ms": history_s * 1000}


def sqlite_wal(root: Path, events: int) -> dict[str, float]:
    db = sqlite3.connect(root / "journal.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE events (account TEXT, seq INTEGER, record TEXT, "
               "PRIMARY KEY (account, seq))")
    account = Account(name="bench")
    started = time.perf_counter()
    event = account.decide_open("open", Decimal("0"), Decimal("0"))
    account.apply(event)
    db.execute("INSERT INTO events VALUES (?, ?, ?)",
               ("bench", event.seq, json.dumps(event_record(event))))
    for i in range(events - 1):
        event = account.decide_deposit(f"d{i}", Decimal("1.00"))
        account.apply(event)
        db.execute("INSERT INTO events VALUES (?, ?, ?)",
                   ("bench", event.seq, json.dumps(event_record(event))))
    append_s = time.perf_counter() - started
    db.close()
    started = time.perf_counter()
    db = sqlite3.connect(root / "journal.sqlite")
    tail = db.execute("SELECT record FROM events WHERE account = ? AND seq > ? ORDER BY seq",
                      ("bench", events - 100)).fetchall()
    recover_s = time.perf_counter() - started
    started = time.perf_counter()
    rows = db.execute("SELECT record FROM events WHERE account = ? ORDER BY seq",
                      ("bench",)).fetchall()
    history_s = time.perf_counter() - started
    db.close()
    assert len(rows) == events and len(tail) == 100
    return {"appends_per_s": events / append_s, "recover_ms": recover_s * 1000,
            "full_history_ms": history_s * 1000}


def sync_patterns(root: Path, records: int) -> dict[str, float]:
    """Synced 150-byte appends per second: growing file + fsync, growing file + fdatasync,
    and writes into zero-filled space + fdatasync (the journal's way)."""
    record = b"x" * 149 + b"\n"
    results = {}
    for label, sync, preallocate in (("append_fsync", os.fsync, False),
                                     ("append_fdatasync", os.fdatasync, False),
                                     ("prealloc_fdatasync", os.fdatasync, True)):
        fd = os.open(root / label, os.O_RDWR | os.O_CREAT, 0o600)
        if preallocate:
            os.pwrite(fd, bytes(records * len(record)), 0)
            os.fsync(fd)
        started = time.perf_counter()
        for i in range(records):
            os.pwrite(fd, record, i * len(record))
            sync(fd)
        results[label] = records / (time.perf_counter() - started)
        os.close(fd)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    events = parser.parse_args().events
    with tempfile.TemporaryDirectory() as tmp:
        results = {"events": events,
                   "framed_file": framed_file(Path(tmp), events),
                   "sqlite_wal_full": sqlite_wal(Path(tmp), events),
                   "sync_patterns_per_s": sync_patterns(Path(tmp), events)}
    print(f"{'format':<18}{'appends/s':>12}{'recover ms':>12}{'history ms':>12}")
    for name in ("framed_file", "sqlite_wal_full"):
        row = results[name]
        print(f"{name:<18}{row['appends_per_s']:>12.0f}{row['recover_ms']:>12.2f}"
              f"{row['full_history_ms']:>12.2f}")
    for label, rate in results["sync_patterns_per_s"].items():
        print(f"{label:<22}{rate:>10.0f} synced appends/s")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "journal_formats.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
