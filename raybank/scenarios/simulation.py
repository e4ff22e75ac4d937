"""`raybank simulate`: a seeded workload under chaos, then the bank's promises checked.

Concurrent client actors each run a shard of the seeded plan against real account actors,
report to a progress actor (the seeds' progress-actor pattern), and, with probability
``chaos`` per operation, kill a random account actor first: half the time with Ray's kill
(Ray restarts it), half the time with SIGKILL of its process, as a crash would. An operation
whose outcome is unknown (an error, not a refusal) is retried with its op id at the end,
which is safe precisely because op ids make retries exactly-once.

Then everything is checked from storage alone (see workload.check_invariants).
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raybank.routing.introspection import actor_id, describe
from raybank.service.bank import Bank
from raybank.service.namespace import passivation_counts
from raybank.actors.coordinator import COORDINATOR_NAME
from raybank.domain.errors import BankError, RuleViolation, StorageError
from raybank.scenarios.node_chaos import NodeChaos
from raybank.storage.sharded import storage_for
from raybank.scenarios.workload import (
    DEPOSIT,
    OPENING_BALANCE,
    WITHDRAW,
    Operation,
    Outcome,
    account_names,
    check_invariants,
    minimums,
    latency_histogram,
    plan,
    summarize_latency,
    throughput_series,
)

PROGRESS_EVERY = 25
RETRY_ATTEMPTS = 5


class ProgressActor:
    """Collects how far each client has got; the driver polls it for the progress bar."""

    def __init__(self) -> None:
        self._done: dict[int, int] = {}
        self._kills: dict[int, int] = {}

    def report(self, client: int, done: int, kills: int) -> None:
        self._done[client] = done
        self._kills[client] = kills

    def totals(self) -> tuple[int, int]:
        return sum(self._done.values()), sum(self._kills.values())


class SimulationClient:
    """Runs one shard of the plan against the bank, injecting chaos as it goes."""

    def __init__(self, home: str, namespace: str, client: int, seed: int, chaos: float,
                 victims: list[str], progress: ray.actor.ActorHandle) -> None:
        self._bank = Bank(Path(home), namespace)
        self._client = client
        self._chaos = chaos
        self._victims = victims
        self._rng = random.Random(f"{seed}:chaos:{client}")
        self._progress = progress
        self._node = ray.get_runtime_context().get_node_id()
        self._kills = 0

    def run(self, operations: list[Operation]) -> tuple[list[Outcome], int]:
        outcomes = []
        for done, operation in enumerate(operations, start=1):
            if self._chaos and self._rng.random() < self._chaos:
                self._kill_one()
            started = time.perf_counter()
            status = execute(self._bank, operation)
            outcomes.append(Outcome(operation, status, (time.perf_counter() - started) * 1000,
                                    time.time()))
            if done % PROGRESS_EVERY == 0 or done == len(operations):
                self._progress.report.remote(self._client, done, self._kills)
        return outcomes, self._kills

    def _kill_one(self) -> None:
        victim = self._bank.routing.live(self._rng.choice(self._victims))
        if victim is None:
            return
        info = describe(victim)
        if self._rng.random() < 0.5 and info["pid"] and info["node_id"] == self._node:
            try:
                os.kill(info["pid"], signal.SIGKILL)
            except ProcessLookupError:
                return
        else:
            ray.kill(victim, no_restart=False)
        self._kills += 1


def execute(bank: Bank, operation: Operation) -> str:
    """Run one operation: "ok", "refused" by a rule, or "error" (outcome unknown)."""
    try:
        if operation.kind == DEPOSIT:
            bank.deposit(operation.account, operation.amount, operation.op_id)
        elif operation.kind == WITHDRAW:
            bank.withdraw(operation.account, operation.amount, operation.op_id)
        else:
            bank.transfer(operation.account, operation.target or "", operation.amount,
                          operation.op_id)
        return "ok"
    except RuleViolation:
        return "refused"
    except BankError:
        return "error"


def run_simulation(bank: Bank, *, accounts: int, ops: int, concurrency: int, chaos: float,
                   seed: int, keep: bool, node_chaos: NodeChaos | None = None,
                   on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    names = account_names("sim-", accounts)
    floors = minimums(names, seed)
    bank.create_many([(name, OPENING_BALANCE, floors[name], f"sim-{seed}-open-{name}")
                      for name in names])
    openings = dict.fromkeys(names, OPENING_BALANCE)
    operations = plan(seed, names, ops)
    # The clients are the bank's users, not its state: they stay on the driver's node,
    # which node chaos never kills.
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    progress = ray.remote(ProgressActor).options(num_cpus=0, scheduling_strategy=here).remote()
    remote_client = ray.remote(SimulationClient).options(num_cpus=0, scheduling_strategy=here)
    victims = [*names, COORDINATOR_NAME]  # accounts and the transfer coordinator
    clients = [remote_client.remote(str(bank.home), bank.namespace, index, seed, chaos,
                                    victims, progress)
               for index in range(concurrency)]
    started, wall_started = time.perf_counter(), time.time()
    pending = [client.run.remote(operations[index::concurrency])
               for index, client in enumerate(clients)]
    waiting = list(pending)
    while waiting:
        _, waiting = ray.wait(waiting, num_returns=len(waiting), timeout=0.25)
        done = ray.get(progress.totals.remote())[0]
        if node_chaos is not None:
            node_chaos.tick(done)
        if on_progress is not None:
            on_progress(done, len(operations))
    seconds = time.perf_counter() - started
    if node_chaos is not None:
        node_chaos.finish()
    outcomes: list[Outcome] = []
    kills = 0
    for shard_outcomes, shard_kills in ray.get(pending):
        outcomes.extend(shard_outcomes)
        kills += shard_kills
    retried = sum(1 for o in outcomes if o.status == "error")
    outcomes = [resolve(bank, o) if o.status == "error" else o for o in outcomes]
    bank.await_transfers()  # a restarted coordinator finishes interrupted transfers itself
    for actor in (*clients, progress):
        ray.kill(actor)

    report = inspect_accounts(bank, names)
    invariants = check_invariants(openings, report["journals"], report["stored"],
                                  report["live"], outcomes)
    statuses = Counter(o.status for o in outcomes)
    result = {
        "namespace": bank.namespace, "names": names, "accounts": accounts, "ops": len(outcomes),
        "seconds": round(seconds, 3),
        "ops_per_s": round(len(outcomes) / seconds, 1) if seconds else 0.0,
        "latency_ms": summarize_latency(outcomes), "kills": kills,
        "latency_histogram": latency_histogram([o.latency_ms for o in outcomes]),
        "throughput": throughput_series([o.finished_at for o in outcomes], wall_started,
                                        seconds),
        "restarts": report["restarts"], "refused": statuses["refused"], "retried": retried,
        "unresolved": statuses["error"], "memory_mb_per_actor": report["memory_mb"],
        "placement": bank.placement.kind, "activations": report["activations"],
        "evictions": report["evictions"],
        "calls": report["calls"], "seed": seed, "concurrency": concurrency, "chaos": chaos,
        "node_chaos": node_chaos.probability if node_chaos else 0.0,
        "node_kills": node_chaos.kills if node_chaos else 0,
        "node_failures": node_chaos.failures if node_chaos else [],
        **passivation_counts(bank.home, bank.namespace),
        "invariants": invariants,
        "ok": all(invariants.values()) and statuses["error"] == 0,
    }
    if not keep:
        bank.remove_namespace(names)
    return result


def resolve(bank: Bank, outcome: Outcome) -> Outcome:
    """Settle an unknown outcome by repeating the op with its op id (applied at most once)."""
    status = outcome.status
    for _ in range(RETRY_ATTEMPTS):
        status = execute(bank, outcome.op)
        if status != "error":
            break
    return Outcome(outcome.op, status, outcome.latency_ms, outcome.finished_at)


def inspect_accounts(bank: Bank, names: list[str]) -> dict[str, Any]:
    """Read every account from storage alone, plus what its live actor says and costs."""
    # fresh (nothing cached from the run), each shard read once
    storage = storage_for(bank.home, bank.namespace, bank.placement, cache=True)
    journals, stored, live = {}, {}, {}
    restarts, rss, calls = 0, [], Counter()
    activations = evictions = 0
    seen: set[str] = set()
    for name in names:
        store = storage.store_for(name)
        try:
            journals[name] = store.events(name)
            stored[name] = store.load(name)
        except StorageError:
            journals[name] = []  # damaged: counted as a failed check, not a crash
        handle = bank.routing.live(name)
        live[name] = None
        if handle is not None:
            live[name] = bank.balance(name).balance
            if actor_id(handle) in seen:
                continue  # a host serves many accounts: count its process once
            seen.add(actor_id(handle))
            info = describe(handle)
            restarts += info["restarts"]
            process = ray.get(handle.process.remote())
            calls.update(process["calls"])
            activations += process.get("activations", 0)
            evictions += process.get("evictions", 0)
            if info["pid"] and (memory := resident_mb(info["pid"])) is not None:
                rss.append(memory)
    return {"journals": journals, "stored": stored, "live": live, "restarts": restarts,
            "activations": activations, "evictions": evictions,
            "memory_mb": round(sum(rss) / len(rss), 1) if rss else None,
            "calls": dict(sorted(calls.items()))}


def resident_mb(pid: int) -> float | None:
    """Resident memory of a process on this node, from /proc (None if it is elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
