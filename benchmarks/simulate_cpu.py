"""Where a hosted simulate's CPU goes: the run's rate beside each kind of process's CPU time.

    python benchmarks/simulate_cpu.py [--accounts 20000] [--ops 40000] [--chaos 0.0005]
                                      [--hosts 8]

Starts its own embedded cluster (`raybank up`) in a temporary RAYBANK_HOME, runs
`raybank --placement hosted simulate --accounts N --ops M --concurrency 8 --chaos C --json`
(RAYBANK_HOSTS set for the namespace), stops the cluster with `raybank down`, and prints one
JSON object: the simulate's rate, kills and invariants, and the CPU seconds each kind of
process used while the simulate's clients ran, from /proc every second (a process is
counted under the first name it showed: a host that Ray restarts starts as a fresh Python
worker, so its start-up is counted with it). Not a test; the machine has 2 cores, so run
nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
from collections import Counter
from pathlib import Path

from big_bank import raybank  # same folder: run as `python benchmarks/...`

KINDS = ("AccountHost", "TransferCoordinator", "SimulationClient", "ProgressActor",
         "gcs_server", "ray::IDLE", "default_worker.py")  # the last: a worker still starting
CLIENT = "SimulationClient.run"


def sample() -> dict[str, tuple[str, int]]:
    """Every process's (command line, CPU ticks so far)."""
    seen = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:
            continue
        seen[entry.name] = (command, int(fields[11]) + int(fields[12]))
    return seen


def cpu_by_kind(samples: list[dict[str, tuple[str, int]]]) -> dict[str, float]:
    """CPU seconds per kind of process between the first and last sample in which a
    simulate client ran (processes that died meanwhile included)."""
    running = [i for i, each in enumerate(samples)
               if any(CLIENT in command for command, _ in each.values())]
    if not running:
        return {}
    window = samples[running[0]:running[-1] + 1]
    first, top, name = window[0], {}, {}
    for each in window:
        for pid, (command, ticks) in each.items():
            top[pid] = max(top.get(pid, 0), ticks)
            name.setdefault(pid, command)
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    totals: Counter[str] = Counter()
    for pid, ticks in top.items():
        program = (name[pid].split() or [""])[0]
        kind = "raylet" if program.endswith("/raylet") else next(
            (k for k in KINDS if k in name[pid]), "other")
        totals[kind] += ticks - first.get(pid, ("", 0))[1]
    return {kind: round(ticks / ticks_per_s, 1) for kind, ticks in totals.most_common()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--ops", type=int, default=40_000)
    parser.add_argument("--chaos", type=float, default=0.0005)
    parser.add_argument("--hosts", type=int, default=8)
    options = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="raybank-simcpu-"))
    env = {**os.environ, "RAYBANK_HOME": str(home), "RAYBANK_HOSTS": str(options.hosts)}
    samples: list[dict[str, tuple[str, int]]] = []
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set():
            samples.append(sample())
            stop.wait(1.0)

    thread = threading.Thread(target=sampler, daemon=True)
    try:
        raybank(env, "up", "--json")
        thread.start()
        _, out = raybank(env, "--placement", "hosted", "simulate", "--accounts",
                         str(options.accounts), "--ops", str(options.ops), "--concurrency",
                         "8", "--chaos", str(options.chaos), "--json")
    finally:
        stop.set()
        raybank(env, "down", "--json")
        shutil.rmtree(home, ignore_errors=True)
    result = json.loads(out)
    cpu = cpu_by_kind(samples)
    print(json.dumps({
        "command": f"simulate --accounts {options.accounts} --ops {options.ops} "
                   f"--concurrency 8 --chaos {options.chaos}", "hosts": options.hosts,
        **{key: result[key] for key in ("ops_per_s", "seconds", "kills", "restarts",
                                        "activations", "latency_ms", "ok")},
        "throughput": [slice_["ops_per_s"] for slice_ in result["throughput"]],
        "cpu_s": cpu, "cpu_s_total": round(sum(cpu.values()), 1),
        "cores": round(sum(cpu.values()) / result["seconds"], 2) if result["seconds"] else None,
    }, indent=2))


if __name__ == "__main__":
    main()
