"""A big bank on one machine: issue 12's targets, measured through the real command line.

    python benchmarks/big_bank.py [--accounts 100000] [--ops 100000] [--baseline 300]

Starts its own embedded cluster in a temporary RAYBANK_HOME, stops it with `raybank down`,
prints one JSON object and writes benchmarks/results/big-bank-<timestamp>.json. Not a test:
it asserts only that each command it times succeeds. In one run, on one cluster:

- hosted: `raybank --placement hosted batch` of N `create` lines (the way to open a big bank),
  the cluster's resident memory after it (every process carrying the cluster's
  RAYBANK_CLUSTER_ID), the namespace's disk (`du`), a command on a cold account through the
  gateway (after its host was restarted, so nothing of it is in memory), and
  `raybank --placement hosted simulate --accounts N --ops M --concurrency 8 --chaos 0.0005`;
- actor (the baseline, same run, fewer accounts: one process per account): the same batch and
  simulate over ``--baseline`` accounts;
- Ray's raw actor-call rate on a trivial method from a hand-written driver (the ceiling).
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

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TIMEOUT_S = 3600

RAW_DRIVER = """
import json, sys, time, ray
ray.init(address=sys.argv[1], log_to_driver=False, logging_level="ERROR")

@ray.remote
class Trivial:
    def ping(self):
        return 1

actor = Trivial.remote()
ray.get(actor.ping.remote())
started = time.perf_counter()
ray.get([actor.ping.remote() for _ in range(20000)])
pipelined = 20000 / (time.perf_counter() - started)
started = time.perf_counter()
for _ in range(2000):
    ray.get(actor.ping.remote())
print(json.dumps({"pipelined_per_s": pipelined,
                  "one_at_a_time_per_s": 2000 / (time.perf_counter() - started)}))
"""


def raybank(env: dict[str, str], *args: str, stdin: str | None = None,
            quiet: bool = False) -> tuple[float, str]:
    """Run one raybank command; returns its wall time and stdout (it must exit 0)."""
    script = Path(sys.executable).parent / "raybank"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "raybank"]
    started = time.perf_counter()
    done = subprocess.run([*command, *args], env=env, input=stdin, text=True,
                          stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=TIMEOUT_S)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"raybank {' '.join(args)} exited {done.returncode}: "
                           f"{(done.stdout or '')[-2000:]} {done.stderr[-3000:]}")
    return seconds, done.stdout or ""


def cluster_rss_mb(cluster_id: str) -> float:
    """Resident memory of every process of the cluster (its id is in their environment)."""
    marker = f"RAYBANK_CLUSTER_ID={cluster_id}".encode()
    total_kb = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def disk_mb(folder: Path) -> float:
    done = subprocess.run(["du", "-sk", str(folder)], capture_output=True, text=True,
                          check=True)
    return int(done.stdout.split()[0]) / 1024


def namespace_dir(home: Path, namespace: str) -> Path:
    return home / "namespaces" / namespace.encode().hex()


def open_accounts(env: dict[str, str], placement: str, namespace: str, count: int,
                  folder: Path) -> dict[str, Any]:
    lines = folder / f"{namespace}.txt"
    lines.write_text("".join(f"create acct-{n} --balance 100.00\n" for n in range(count)))
    seconds, _ = raybank({**env, "RAYBANK_NAMESPACE": namespace}, "--placement", placement,
                         "batch", str(lines), "--json", quiet=True)
    return {"accounts": count, "seconds": seconds, "per_s": count / seconds}


def cold_command(env: dict[str, str], namespace: str, samples: int = 9) -> dict[str, Any]:
    """`balance` through the gateway on the first accounts opened: long passivated by then
    (a host keeps its RAYBANK_HOST_MAX_LIVE most recently used accounts), so each is loaded
    from its shard journal."""
    ns_env = {**env, "RAYBANK_NAMESPACE": namespace}
    times = [raybank(ns_env, "balance", f"acct-{n}", "--json")[0]
             for n in range(1, samples + 1)]
    return {"median_s": statistics.median(times), "max_s": max(times), "samples": samples}


def simulate(env: dict[str, str], placement: str, accounts: int, ops: int) -> dict[str, Any]:
    _, out = raybank(env, "--placement", placement, "simulate", "--accounts", str(accounts),
                     "--ops", str(ops), "--concurrency", "8", "--chaos", "0.0005", "--json")
    report = json.loads(out)
    return {key: report.get(key) for key in (
        "accounts", "ops", "seconds", "ops_per_s", "latency_ms", "kills", "restarts",
        "retried", "unresolved", "invariants", "ok", "activations", "evictions",
        "throughput")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=300, help="accounts in actor placement")
    options = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="raybank-big-"))
    env = {**os.environ, "RAYBANK_HOME": str(home)}
    for name in ("RAY_ADDRESS", "RAYBANK_NAMESPACE", "RAYBANK_PLACEMENT"):
        env.pop(name, None)
    results: dict[str, Any] = {"options": vars(options), "cpus": os.cpu_count()}
    try:
        raybank(env, "up", "--json")
        record = json.loads((home / "cluster.json").read_text())
        hosted = results["hosted"] = {}
        steps = [
            (hosted, "open", lambda: open_accounts(env, "hosted", "big", options.accounts,
                                                    home)),
            (hosted, "cluster_rss_mb", lambda: cluster_rss_mb(record["cluster_id"])),
            (hosted, "disk_mb", lambda: disk_mb(namespace_dir(home, "big"))),
            (hosted, "cold_command", lambda: cold_command(env, "big")),
            (hosted, "simulate", lambda: simulate(env, "hosted", options.accounts,
                                                  options.ops)),
        ]
        actor = results["actor"] = {}
        steps += [
            (actor, "open", lambda: open_accounts(env, "actor", "small", options.baseline,
                                                   home)),
            (actor, "cluster_rss_mb", lambda: cluster_rss_mb(record["cluster_id"])),
            (actor, "disk_mb", lambda: disk_mb(namespace_dir(home, "small"))),
            (actor, "simulate", lambda: simulate(env, "actor", options.baseline,
                                                 min(options.ops, 20 * options.baseline))),
        ]
        for section, key, measure in steps:
            try:
                section[key] = measure()
            except RuntimeError as error:  # recorded, and the other measurements go on
                section[key] = {"error": str(error)[-1500:]}
            print(key, json.dumps(section[key]), file=sys.stderr, flush=True)
        auth = {**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(home / "cluster.token")}
        raw = subprocess.run([sys.executable, "-c", RAW_DRIVER, record["address"]], env=auth,
                             capture_output=True, text=True, timeout=600, check=True)
        results["ray_raw_calls"] = json.loads(raw.stdout.strip().splitlines()[-1])
    finally:
        raybank(env, "down", "--json")
        shutil.rmtree(home, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"big-bank-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
