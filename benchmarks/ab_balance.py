"""A/B: `raybank balance` through the gateway, two source trees side by side, interleaved.

    python benchmarks/ab_balance.py OLD_TREE NEW_TREE [RUNS]

Each tree (a checkout of raybank, for example a `git worktree` of an older commit) gets its
own embedded cluster in a temporary home, started from that tree (PYTHONPATH), so its gateway
runs that tree's code. The two are then timed in turns, so a change in the machine's load
touches both alike. Both clusters are stopped with `raybank down` at the end.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GATEWAY_START_S = 3.0  # the first attach starts the gateway; let it bind its socket
WARM_UP_RUNS = 5


class Tree:
    """One raybank source tree with a home and an embedded cluster of its own."""

    def __init__(self, label: str, source: str) -> None:
        self.label = label
        self.home = Path(tempfile.mkdtemp(prefix=f"ab-{label}-"))
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith("RAY")}
        self.env.update(PYTHONPATH=source, RAYBANK_HOME=str(self.home),
                        RAYBANK_NAMESPACE="bench")

    def run(self, *args: str, check: bool = True) -> float:
        """Run one raybank command; returns its wall time in seconds."""
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "raybank", *args], env=self.env,
                              capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if check and done.returncode:
            raise SystemExit(f"{self.label} {args}: exit {done.returncode}: "
                             f"{done.stderr[-500:]}")
        return elapsed


def main() -> None:
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    trees = [Tree("old", sys.argv[1]), Tree("new", sys.argv[2])]
    try:
        for tree in trees:
            tree.run("up", "--json")
            tree.run("create", "acct", "--balance", "5", "--json")
            tree.run("balance", "acct", "--json")
            time.sleep(GATEWAY_START_S)
            for _ in range(WARM_UP_RUNS):
                tree.run("balance", "acct", "--json")
        times: dict[str, list[float]] = {tree.label: [] for tree in trees}
        for _ in range(runs):
            for tree in trees:
                times[tree.label].append(tree.run("balance", "acct", "--json"))
        for label, seconds in times.items():
            print(f"{label}: median {statistics.median(seconds) * 1000:.1f} ms, "
                  f"best {min(seconds) * 1000:.1f} ms, n={len(seconds)}")
        ratio = statistics.median(times["new"]) / statistics.median(times["old"])
        print(f"new/old median: {ratio:.3f}")
    finally:
        for tree in trees:
            tree.run("down", "--json", check=False)


if __name__ == "__main__":
    main()
