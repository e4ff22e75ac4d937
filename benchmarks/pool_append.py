"""What one pooled append costs on a long history: bytes sent and wall time, through Ray.

    python benchmarks/pool_append.py [--events 20000] [--appends 2000]

Starts raybank's embedded cluster in a temporary RAYBANK_HOME (stopped with `raybank down`),
writes an account of ``--events`` events straight to its journal, then makes ``--appends``
deposits durable through the account's persistence actor, one at a time, exactly as an
account actor does (`PooledStore.load` once, then `PooledStore.append` per event). Prints
the arguments' pickled size per append and the wall time per append. Not a test.
"""

from __future__ import annotations

import argparse
import inspect
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from decimal import Decimal
from pathlib import Path

from raybank.domain.account import Account

NAMESPACE = "bench-pool"
NAME = "acct"


def raybank_command() -> list[str]:
    return [sys.executable, "-m", "raybank"]


def seed(home: Path, events: int) -> None:
    """An account of ``events`` events in a pooled namespace, written without Ray."""
    from raybank.storage import Storage

    storage = Storage(home, NAMESPACE)
    storage.choose_persistence("pool")
    store = storage.stores["journal"]
    account = Account(name=NAME)
    event = account.decide_open("open", Decimal("0.00"), Decimal("0.00"))
    account.apply(event)
    store.append(account, event)
    for n in range(events - 1):
        event = account.decide_deposit(f"seed-{n}", Decimal("1.00"))
        account.apply(event)
        store.append(account, event, sync=False)
    store.sync(NAME)
    store.close_all()


def sent_per_append(account: Account) -> int:
    """Pickled size of what ``PooledStore.append`` hands to Ray for one event."""
    from raybank.actors.persistence_pool import PersistenceActor

    event = account.decide_deposit("probe", Decimal("1.00"))
    shipped = [p for p in list(inspect.signature(PersistenceActor.append).parameters)[1:]
               if not p.startswith("_")]  # Ray adds a tracing keyword to actor methods
    values = {"kind": "journal", "account": account, "name": NAME, "event": event,
              "sync": True}
    return len(pickle.dumps(tuple(values[p] for p in shipped)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--appends", type=int, default=2_000)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="raybank-pool-bench-"))
    home = folder / "home"
    home.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
    env.update(RAYBANK_HOME=str(home), RAYBANK_NAMESPACE=NAMESPACE)
    started = time.perf_counter()
    seed(home, options.events)
    print(f"seeded {options.events} events in {time.perf_counter() - started:.1f} s")
    os.environ.clear()
    os.environ.update(env)
    subprocess.run([*raybank_command(), "up", "--json"], env=env, check=True,
                   capture_output=True, timeout=600)
    code = 0
    try:
        from raybank.cluster.embedded import Home, attach

        attach(Home(home), None, NAMESPACE)
        from raybank.actors.persistence_pool import PooledStore
        from raybank.storage import Storage

        store = PooledStore(Storage(home, NAMESPACE).stores["journal"], home, NAMESPACE)
        account = store.load(NAME, repair=True)  # the persistence actor reads it once
        size = sent_per_append(account)
        started = time.perf_counter()
        for n in range(options.appends):
            event = account.decide_deposit(f"bench-{n}", Decimal("1.00"))
            account.apply(event)
            store.append(account, event)
        seconds = time.perf_counter() - started
        print(f"{options.appends} pooled appends at {options.events} events: "
              f"{seconds:.1f} s, {1000 * seconds / options.appends:.2f} ms an append, "
              f"{size} bytes pickled an append")
    except Exception:
        traceback.print_exc()
        code = 1
    finally:
        subprocess.run([*raybank_command(), "down", "--json"], env=env,
                       capture_output=True, timeout=600)
        shutil.rmtree(folder, ignore_errors=True)
    # Once attached, a normal exit after the cluster is gone waits a minute for its GCS.
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
