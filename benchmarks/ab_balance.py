"""A/B: `raybank balance` through the gateway, two source trees side by side, interleaved.

    python benchmarks/ab_balance.py OLD_TREE NEW_TREE [RUNS]

Each tree (a checkout of raybank, for example a `git worktree` of an older commit) gets its
own embedded cluster in a temporary home, started from that tree (PYTHONPATH), so the gateway
runs that tree's code. The two are then timed in turns, so a change in the machine's load
touches both alike. Both clusters are stopped with `raybank down` at the end.
"""
import os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

trees = {"old": sys.argv[1], "new": sys.argv[2]}
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 30
py = sys.executable
homes = {}
def env_for(label):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY")}
    env.update(PYTHONPATH=trees[label], RAYBANK_HOME=str(homes[label]), RAYBANK_NAMESPACE="bench")
    return env
def rb(label, *args, check=True):
    done = subprocess.run([py, "-m", "raybank", *args], env=env_for(label), capture_output=True, text=True)
    if check and done.returncode:
        raise SystemExit(f"{label} {args}: {done.returncode} {done.stderr[-500:]}")
    return done
try:
    for label in trees:
        homes[label] = Path(tempfile.mkdtemp(prefix=f"ab-{label}-"))
        rb(label, "up", "--json")
        rb(label, "create", "acct", "--balance", "5", "--json")
        rb(label, "balance", "acct", "--json")
        time.sleep(3)  # the gateway starts
        for _ in range(5):
            rb(label, "balance", "acct", "--json")
    times = {label: [] for label in trees}
    for _ in range(runs):
        for label in trees:
            t = time.perf_counter(); rb(label, "balance", "acct", "--json"); times[label].append(time.perf_counter() - t)
    for label, ts in times.items():
        print(f"{label}: median {statistics.median(ts)*1000:.1f} ms, min {min(ts)*1000:.1f} ms, n={len(ts)}")
    print(f"new/old median: {statistics.median(times['new'])/statistics.median(times['old']):.3f}")
finally:
    for label in homes:
        rb(label, "down", "--json", check=False)
