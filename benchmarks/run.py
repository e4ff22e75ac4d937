"""Measure raybank against its floors and baselines, in one run on one machine.

    python benchmarks/run.py [--quick]

Starts its own embedded cluster in a temporary RAYBANK_HOME, stops it with `raybank down`,
prints a table and writes benchmarks/results/<timestamp>.json. Not a test: it asserts only
that the commands it times succeed. Sections:

- latency: wall time of one process, from exec to exit -- `python -c pass`, importing the thin
  client, `python -c "import ray"` (the import floor), a minimal hand-written Ray driver
  (attach, get_actor, one call, os._exit; and the same with a normal exit), and
  `raybank balance NAME --json` through the gateway and as a Ray driver (each case's runs
  taken round-robin with the others, so load changes touch every case alike);
- throughput: durable deposits/s submitted pipelined from this long-lived driver through
  raybank's Bank (1 and 8 accounts; one call each, and grouped per account as `batch` sends
  them: one call and one fsync per group), the seeds' non-durable Account actor (1 and 8 actors),
  and Ray's own 1:1 actor-call rate on a trivial method (pipelined, and one at a time);
- batch: `raybank batch FILE` of 10,000 mixed lines over 20 accounts, first including the
  20 `create` lines (actor starts), then 10,000 more lines on those live accounts;
- idle account actor: resident memory and background CPU of those 20 actors over 10 s of
  doing nothing (what an account costs while its actor stays up).

Each throughput section removes its accounts when done, so later sections run on a cluster
that holds only their own actors (idle actors still cost CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # seed_account
RESULTS = HERE / "results"
CLI_TIMEOUT_S = 600

MINIMAL_DRIVER = """
import os, sys, ray
ray.init(address=sys.argv[1], namespace=sys.argv[2], log_to_driver=False,
         logging_level="ERROR")
actor = ray.get_actor(sys.argv[3])
print(ray.get(actor.summary.remote()))
sys.stdout.flush()
if sys.argv[4] == "fast":
    os._exit(0)
"""


def raybank_command() -> list[str]:
    script = Path(sys.executable).parent / "raybank"
    return [str(script)] if script.exists() else [sys.executable, "-m", "raybank"]


def run_once(command: list[str], env: dict[str, str], stdin: str | None = None) -> float:
    """Wall time of one fresh process, from exec to exit (it must exit 0)."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, input=stdin, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_S)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command} exited {done.returncode}: {done.stderr[-2000:]}")
    return seconds


def interleaved(cases: dict[str, tuple[list[str], dict[str, str], int]]) -> dict[str, Any]:
    """Median and best wall time of each case's runs, taken round-robin, so that a change
    in the machine's load during the measurement touches every case alike."""
    times: dict[str, list[float]] = {label: [] for label in cases}
    for round_ in range(max(runs for _, _, runs in cases.values())):
        for label, (command, env, runs) in cases.items():
            if round_ < runs:
                times[label].append(run_once(command, env))
    return {label: {"median_s": statistics.median(seconds), "min_s": min(seconds),
                    "runs": len(seconds)} for label, seconds in times.items()}


def wait_for_gateway(home: Path) -> None:
    from raybank.gateway import wire

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            wire.connect(wire.socket_path(home), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the gateway never answered")


def latency(env: dict[str, str], home: Path, runs: int) -> dict[str, Any]:
    record = json.loads((home / "cluster.json").read_text())
    driver_env = {**env, "RAY_AUTH_MODE": "token",
                  "RAY_AUTH_TOKEN_PATH": str(home / "cluster.token")}
    minimal = [sys.executable, "-c", MINIMAL_DRIVER, record["address"], "bench", "acct-0"]
    balance = [*raybank_command(), "balance", "acct-0", "--json"]
    python = sys.executable
    return interleaved({
        "python -c pass": ([python, "-c", "pass"], env, runs),
        "import raybank.gateway.client (thin client)": (
            [python, "-c", "import raybank.gateway.client"], env, runs),
        "import typer, rich": ([python, "-c", "import typer, rich"], env, runs),
        "import ray (floor)": ([python, "-c", "import ray"], env, runs),
        "minimal Ray driver, os._exit": ([*minimal, "fast"], driver_env, runs),
        "minimal Ray driver, normal exit": ([*minimal, "normal"], driver_env, max(3, runs // 3)),
        "raybank balance, gateway": (balance, env, runs * 2),
        "raybank balance, Ray driver": (balance, {**env, "RAYBANK_NO_GATEWAY": "1"}, runs),
    })


def rate(count: int, seconds: float) -> dict[str, Any]:
    return {"ops": count, "seconds": seconds, "ops_per_s": count / seconds}


def opened_accounts(home: Path, prefix: str, accounts: int) -> tuple[Any, list[str]]:
    """A Bank on its own namespace with ``accounts`` fresh, empty accounts."""
    from raybank.service.bank import Bank

    bank = Bank(home, f"bench-{prefix}{accounts}")
    names = [f"{prefix}-{n}" for n in range(accounts)]
    for name in names:
        bank.create(name, Decimal("0.00"), Decimal("0.00"), f"open-{name}")
    return bank, names


def raybank_throughput(home: Path, accounts: int, count: int) -> dict[str, Any]:
    bank, names = opened_accounts(home, "tp", accounts)
    started = time.perf_counter()
    pending = [bank.routing.submit(names[n % accounts], "deposit", f"dep-{n}", Decimal("1.00"))
               for n in range(count)]
    for each in pending:
        each.result()
    seconds = time.perf_counter() - started
    assert bank.balance(names[0])["balance"] == Decimal(count // accounts)
    bank.remove_namespace(names)  # idle actors still cost CPU: leave none behind
    return rate(count, seconds)


def raybank_grouped_throughput(home: Path, accounts: int, count: int) -> dict[str, Any]:
    """As batch sends them: queued per account, one apply_many (one fsync) per group."""
    bank, names = opened_accounts(home, "gr", accounts)
    started = time.perf_counter()
    pipeline = bank.pipeline()
    items = []
    for n in range(count):
        items.append(pipeline.deposit(names[n % accounts], Decimal("1.00"), f"dep-{n}"))
        if (n + 1) % 200 == 0:
            pipeline.flush()
    pipeline.flush()
    for item in items:
        item.result()
    seconds = time.perf_counter() - started
    assert bank.balance(names[0])["balance"] == Decimal(count // accounts)
    bank.remove_namespace(names)
    return rate(count, seconds)


def seed_throughput(folder: Path, accounts: int, count: int) -> dict[str, Any]:
    import ray
    from seed_account import FilePersistence, SeedAccount

    persistence = FilePersistence(str(folder))
    actors = [SeedAccount.options(namespace="bench-seed").remote(
        0.0, 0.0, f"seed-{accounts}-{n}", persistence) for n in range(accounts)]
    ray.get([actor.get_balance.remote() for actor in actors])  # all started
    started = time.perf_counter()
    ray.get([actors[n % accounts].deposit.remote(1.0) for n in range(count)])
    seconds = time.perf_counter() - started
    for actor in actors:
        ray.kill(actor)
    return rate(count, seconds)


def ray_ceiling(count: int) -> dict[str, Any]:
    import ray
    from seed_account import Trivial

    actor = Trivial.options(namespace="bench-seed").remote()
    ray.get(actor.small_value.remote())
    started = time.perf_counter()
    ray.get([actor.small_value.remote() for _ in range(count)])
    pipelined = rate(count, time.perf_counter() - started)
    one_by_one = count // 5
    started = time.perf_counter()
    for _ in range(one_by_one):
        ray.get(actor.small_value.remote())
    sync = rate(one_by_one, time.perf_counter() - started)
    ray.kill(actor)
    return {"pipelined": pipelined, "one at a time": sync}


def batch_lines(count: int, accounts: int, seed: int = 6) -> list[str]:
    chooser = random.Random(seed)
    names = [f"b-{n}" for n in range(accounts)]
    lines = [f"create {name} --balance 1000.00" for name in names]
    while len(lines) < count:
        name, roll = chooser.choice(names), chooser.random()
        lines.append(f"deposit {name} 2.50" if roll < 0.45 else
                     f"withdraw {name} 1.75" if roll < 0.9 else f"balance {name}")
    return lines


def batch(env: dict[str, str], folder: Path, count: int, accounts: int,
          live: bool = False) -> dict[str, Any]:
    """Wall time of `raybank batch`: opening the accounts first, or on ``live`` ones."""
    lines = batch_lines(count + accounts, accounts, seed=7)[accounts:] if live else (
        batch_lines(count, accounts))
    ops = folder / "batch.txt"
    ops.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    done = subprocess.run([*raybank_command(), "batch", str(ops), "--json"],
                          env={**env, "RAYBANK_NAMESPACE": "bench-batch"},
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    seconds = time.perf_counter() - started
    printed = done.stdout.count("\n")
    if done.returncode != 0 or printed != count:
        raise RuntimeError(f"batch exited {done.returncode} with {printed} lines: "
                           f"{done.stderr[-2000:]}")
    return {"lines": count, "accounts": accounts, **rate(count, seconds)}


def idle_actor_cost(home: Path, namespace: str, seconds: float = 10.0) -> dict[str, Any]:
    """Resident memory and background CPU of a namespace's account actors while idle: what
    each account costs for as long as its actor stays up."""
    from raybank.service.bank import Bank
    from raybank.scenarios.simulation import resident_mb

    pids = [row.actor.pid for row in Bank(home, namespace).accounts().accounts
            if row.actor.pid]

    def cpu_ticks(pid: int) -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    before = {pid: cpu_ticks(pid) for pid in pids}
    time.sleep(seconds)
    ticks = sum(cpu_ticks(pid) - start for pid, start in before.items())
    per_second = os.sysconf("SC_CLK_TCK")
    memory = [mb for pid in pids if (mb := resident_mb(pid)) is not None]
    return {"actors": len(pids), "rss_mb_per_actor": sum(memory) / len(memory),
            "cpu_percent_of_a_core_per_actor": 100 * ticks / per_second / seconds / len(pids)}


def table(results: dict[str, Any]) -> str:
    rows = ["latency (one process)                  median s    best s   x import ray"]
    floor = results["latency"]["import ray (floor)"]["median_s"]
    for name, figure in results["latency"].items():
        rows.append(f"  {name:<37}{figure['median_s']:>8.3f}  {figure['min_s']:>8.3f}"
                    f"  {figure['median_s'] / floor:>8.2f}")
    rows.append("throughput (pipelined, one driver)         ops/s     ops   seconds")
    for name, figure in results["throughput"].items():
        rows.append(f"  {name:<37}{figure['ops_per_s']:>8.0f}  {figure['ops']:>6}"
                    f"  {figure['seconds']:>8.2f}")
    for label, what in (("batch", "opening them first"), ("batch, live accounts", "live")):
        b = results[label]
        rows.append(f"batch: {b['lines']} lines over {b['accounts']} accounts ({what}) in "
                    f"{b['seconds']:.2f} s ({b['ops_per_s']:.0f} lines/s)")
    idle = results["idle account actor"]
    rows.append(f"idle account actor ({idle['actors']} measured): "
                f"{idle['rss_mb_per_actor']:.0f} MB resident, "
                f"{idle['cpu_percent_of_a_core_per_actor']:.2f} % of a core")
    rows.append(f"load average before/after: {results['load_before']} / "
                f"{results['load_after']}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and operations")
    options = parser.parse_args()
    runs, scale = (4, 0.25) if options.quick else (15, 1.0)
    folder = Path(tempfile.mkdtemp(prefix="raybank-bench-"))
    home = folder / "home"
    home.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH",
                        "RAYBANK_NO_GATEWAY")}
    env.update(RAYBANK_HOME=str(home), RAYBANK_NAMESPACE="bench")
    os.environ.clear()
    os.environ.update(env)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    subprocess.run([*raybank_command(), "up", "--json"], env=env, check=True,
                   capture_output=True, timeout=CLI_TIMEOUT_S)
    try:
        subprocess.run([*raybank_command(), "create", "acct-0", "--balance", "1.00", "--json"],
                       env=env, check=True, capture_output=True, timeout=CLI_TIMEOUT_S)
        wait_for_gateway(home)
        results["latency"] = latency(env, home, runs)

        from raybank.cluster.embedded import Home, attach

        attach(Home(home), None, "bench")
        import ray
        import seed_account

        # Workers cannot import this folder: ship the seed's classes by value.
        ray.cloudpickle.register_pickle_by_value(seed_account)

        results["throughput"] = {
            "raybank durable, 1 account": raybank_throughput(home, 1, int(2000 * scale)),
            "raybank durable, 8 accounts": raybank_throughput(home, 8, int(4000 * scale)),
            "raybank durable grouped, 1 account": raybank_grouped_throughput(
                home, 1, int(4000 * scale)),
            "raybank durable grouped, 8 accounts": raybank_grouped_throughput(
                home, 8, int(8000 * scale)),
            "seed actor (no fsync), 1 actor": seed_throughput(folder, 1, int(4000 * scale)),
            "seed actor (no fsync), 8 actors": seed_throughput(folder, 8, int(4000 * scale)),
        }
        ceiling = ray_ceiling(int(10000 * scale))
        results["throughput"]["Ray 1:1 actor calls, pipelined"] = ceiling["pipelined"]
        results["throughput"]["Ray 1:1 actor calls, one at a time"] = ceiling["one at a time"]
        results["batch"] = batch(env, folder, int(10000 * scale), 20)
        results["batch, live accounts"] = batch(env, folder, int(10000 * scale), 20, live=True)
        results["idle account actor"] = idle_actor_cost(home, "bench-batch")
        del ray
    finally:
        subprocess.run([*raybank_command(), "down", "--json"], env=env,
                       capture_output=True, timeout=CLI_TIMEOUT_S)
        results["load_after"] = [round(x, 2) for x in os.getloadavg()]
        shutil.rmtree(folder, ignore_errors=True)
    print(table(results))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / time.strftime("%Y%m%dT%H%M%SZ.json", time.gmtime())
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    sys.stdout.flush()
    os._exit(0)  # every result was awaited; skip Ray's teardown


if __name__ == "__main__":
    main()
