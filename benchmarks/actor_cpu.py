"""CPU an account actor spends per change, in one process, without Ray.

    python benchmarks/actor_cpu.py [--ops 10000] [--group 10] [--profile]

Drives `AccountActor.apply_many` directly (as `batch` does through Ray) on one account in a
temporary home: ``--ops`` deposits in groups of ``--group``, one fsync per group. Prints the
CPU and wall time; with --profile, the functions that cost the most. Not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from raybank.actors.account_actor import AccountActor
from raybank.storage.files import private_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--group", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="raybank-actor-cpu-"))
    try:
        private_dir(home / "home")
        actor = AccountActor(str(home / "home"), "bench", "acct")
        actor.open("open", Decimal("0.00"), Decimal("0.00"))
        groups = [[("deposit", (f"dep-{n}-{i}", Decimal("1.00"))) for i in range(options.group)]
                  for n in range(options.ops // options.group)]
        profile = cProfile.Profile() if options.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profile:
            profile.enable()
        for group in groups:
            actor.apply_many(group)
        if profile:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        ops = len(groups) * options.group
        print(f"{ops} deposits in groups of {options.group}: {cpu:.2f} CPU-s, {wall:.2f} s wall "
              f"({1e6 * cpu / ops:.0f} CPU-us a change)")
        if profile:
            pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
