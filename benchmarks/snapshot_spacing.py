"""What snapshot spacing costs: appends (which write the snapshots) against recovery.

    python benchmarks/snapshot_spacing.py [--events 5000 50000] [--spacing 0 4 8]

For each history length and spacing, writes that many deposits to one account's journal
in a temporary folder (no fsync, so the figures are CPU, not disk), then times the best of
five recoveries from a fresh store. Spacing 0 means the old fixed rule: a snapshot every
100 events whatever the history's length. Not a test.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from raybank.domain.account import Account
from raybank.storage.journal import JournalStore

SNAPSHOT_EVERY = 100


def measure(events: int, spacing: int) -> tuple[float, float]:
    """(append CPU-s, best recovery CPU-s) for ``events`` events under ``spacing``."""
    spacing = spacing or 1 << 62  # 0: only the fixed rule applies
    root = Path(tempfile.mkdtemp(prefix="raybank-spacing-"))
    try:
        store = JournalStore(root, SNAPSHOT_EVERY, spacing)
        account = Account(name="a")
        event = account.decide_open("open", Decimal("0.00"), Decimal("0.00"))
        account.apply(event)
        store.append(account, event)
        started = time.process_time()
        for n in range(events - 1):
            event = account.decide_deposit(f"dep-{n}", Decimal("1.00"))
            account.apply(event)
            store.append(account, event, sync=False)
        appends = time.process_time() - started
        store.close_all()
        recoveries = []
        for _ in range(5):
            started = time.process_time()
            JournalStore(root, SNAPSHOT_EVERY, spacing).load("a")
            recoveries.append(time.process_time() - started)
        return appends, min(recoveries)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[5_000, 50_000])
    parser.add_argument("--spacing", type=int, nargs="+", default=[0, 4, 8])
    options = parser.parse_args()
    print("events   spacing   appends CPU-s   recovery CPU-ms")
    for events in options.events:
        for spacing in options.spacing:
            appends, recovery = measure(events, spacing)
            label = "fixed" if spacing == 0 else f"1/{spacing}"
            print(f"{events:>6}   {label:>7}   {appends:>13.2f}   {1000 * recovery:>15.0f}")


if __name__ == "__main__":
    main()
