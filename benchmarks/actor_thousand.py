"""A thousand accounts in actor placement, with RAYBANK_MAX_LIVE bounding the live actors.

    python benchmarks/actor_thousand.py [--accounts 1000] [--ops 1000] [--max-live 64]

Issue 12 asks that `raybank simulate --accounts 1000` complete on this machine in actor
placement (one actor per account), with passivation keeping memory bounded. This starts its
own embedded cluster in a temporary RAYBANK_HOME, runs that simulate as the command line
would, samples the resident memory of every process of the cluster (RAYBANK_CLUSTER_ID in
their environment) every 2 s while it runs, stops the cluster with `raybank down`, and prints
one JSON object (also written to benchmarks/results/). The same run without a bound is not
made: at about 82 MB an actor, a thousand live actors would need about 80 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from big_bank import cluster_rss_mb  # same folder: run as `python benchmarks/...`

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--max-live", type=int, default=64)
    options = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="raybank-thousand-"))
    env = {**os.environ, "RAYBANK_HOME": str(home), "RAYBANK_NO_GATEWAY": "1",
           "RAYBANK_MAX_LIVE": str(options.max_live)}
    raybank = [sys.executable, "-m", "raybank"]
    peak = {"mb": 0.0}
    running = threading.Event()
    running.set()
    try:
        subprocess.run([*raybank, "up"], env=env, check=True, capture_output=True)
        cluster_id = json.loads((home / "cluster.json").read_text())["cluster_id"]
        idle_mb = cluster_rss_mb(cluster_id)

        def sample() -> None:
            while running.is_set():
                peak["mb"] = max(peak["mb"], cluster_rss_mb(cluster_id))
                time.sleep(2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        done = subprocess.run([*raybank, "--placement", "actor", "simulate", "--accounts",
                               str(options.accounts), "--ops", str(options.ops),
                               "--concurrency", "4", "--json"],
                              env=env, capture_output=True, text=True, timeout=7200)
        wall = time.perf_counter() - started
        running.clear()
        sampler.join()
        lines = done.stdout.strip().splitlines()
        report = json.loads(lines[-1]) if lines else {}
    finally:
        running.clear()
        subprocess.run([*raybank, "down"], env=env, capture_output=True, timeout=300)
        shutil.rmtree(home, ignore_errors=True)
    result = {"command": f"RAYBANK_MAX_LIVE={options.max_live} raybank --placement actor "
                         f"simulate --accounts {options.accounts} --ops {options.ops} "
                         "--concurrency 4",
              "exit": done.returncode, "error": report.get("error"),
              "stderr_tail": done.stderr[-1500:] if done.returncode else "",
              "wall_s": round(wall, 1),
              "cluster_idle_mb": round(idle_mb), "cluster_peak_mb": round(peak["mb"]),
              **{key: report.get(key) for key in (
                  "ok", "invariants", "ops", "seconds", "ops_per_s", "latency_ms",
                  "activations", "evictions", "restarts")}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"actor-thousand-{int(time.time())}.json").write_text(
        json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
