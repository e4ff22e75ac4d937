"""The loss of a worker node, timed through the real command line (issue 13).

    python benchmarks/node_loss.py [--rounds 3] [--accounts 12]

Starts raybank's embedded cluster as a head and two workers (`up --nodes 3`) in a temporary
RAYBANK_HOME, opens ``--accounts`` accounts in actor placement and as many in hosted
placement, then, ``--rounds`` times: kills the worker holding the most of them with
`raybank kill-node` (which times the kill until every account that lived there answers
again), reads every balance, and adds a worker back with `up --nodes 3`. Prints one JSON
object and writes benchmarks/results/node-loss-<timestamp>.json; stops the cluster with
`raybank down`. Not a test: it asserts only that each command succeeds and that the balances
after each loss are the balances before it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def raybank(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[float, Any]:
    """One command with --json; its wall time and parsed output (it must exit 0)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "raybank", *args, "--json"], env=env,
                          input=stdin, text=True, capture_output=True, timeout=600)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"raybank {' '.join(args)} exited {done.returncode}: "
                           f"{done.stdout[-2000:]} {done.stderr[-2000:]}")
    lines = done.stdout.strip().splitlines()
    return seconds, json.loads(lines[-1]) if lines else None


def balances(env: dict[str, str]) -> dict[str, str]:
    return {row["name"]: row["balance"] for row in raybank(env, "accounts")[1]["accounts"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--accounts", type=int, default=12)
    options = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="raybank-node-loss-"))
    base = {**os.environ, "RAYBANK_HOME": str(home), "RAYBANK_NO_GATEWAY": "1"}
    envs = {placement: {**base, "RAYBANK_NAMESPACE": f"bench-{placement}",
                        "RAYBANK_PLACEMENT": placement}
            for placement in ("actor", "hosted")}
    result: dict[str, Any] = {"rounds": [], "accounts": options.accounts}
    try:
        result["up_3_nodes_s"] = round(raybank(base, "up", "--nodes", "3")[0], 2)
        script = "".join(f"create a{i} --balance 100\n" for i in range(options.accounts))
        for env in envs.values():
            raybank(env, "batch", "-", stdin=script)
        for _ in range(options.rounds):
            before = {placement: balances(env) for placement, env in envs.items()}
            nodes = raybank(envs["actor"], "nodes")[1]["nodes"]
            hosted = {node["node_id"]: node["hosts"]
                      for node in raybank(envs["hosted"], "nodes")[1]["nodes"]}
            victim = max((node for node in nodes if node["killable"]),
                         key=lambda node: node["accounts"] + hosted[node["node_id"]])
            wall, report = raybank(envs["actor"], "kill-node", victim["node_id"])
            after = {placement: balances(env) for placement, env in envs.items()}
            hosted_after = time.perf_counter()
            raybank(envs["hosted"], "balance", "a0")
            result["rounds"].append({
                "accounts_on_node": victim["accounts"], "hosts_on_node": hosted[
                    victim["node_id"]], "kill_node_seconds": report["seconds"],
                "kill_node_wall_s": round(wall, 2),
                "hosted_balance_after_s": round(time.perf_counter() - hosted_after, 2),
                "balances_kept": after == before})
            result["rounds"][-1]["re_add_worker_s"] = round(
                raybank(base, "up", "--nodes", "3")[0], 2)
        seconds = [r["kill_node_seconds"] for r in result["rounds"]]
        result["kill_node_seconds_median"] = statistics.median(seconds)
    finally:
        subprocess.run([sys.executable, "-m", "raybank", "down"], env=base,
                       capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"node-loss-{int(time.time())}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
