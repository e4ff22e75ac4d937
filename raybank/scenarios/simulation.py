"""`raybank simulate`: a seeded workload under chaos, then the bank's promises checked.

Concurrent client actors each run a shard of the seeded plan against real account actors,
report to a progress actor (the seeds' progress-actor pattern), and, with probability
``chaos`` per operation, kill a random account actor first: half the time with Ray's kill
(Ray restarts it), half the time with SIGKILL of its process, as a crash would. An operation
whose outcome is unknown (an error, not a refusal) is retried with its op id at the end,
which is safe precisely because op ids make retries exactly-once.

In hosted placement a client runs lanes instead of one call at a time: one per host and one
for transfers, each sending windows of operations as grouped calls (``_run_lanes``): a
few round trips for hundreds of operations (docs/performance.md §6 has the rates).

Then everything is checked from storage alone (see workload.Invariants).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raybank.routing.accounts import Group
from raybank.routing.introspection import actor_id, describe
from raybank.service import results
from raybank.service.bank import Bank
from raybank.service.namespace import passivation_counts
from raybank.actors.coordinator import COORDINATOR_NAME
from raybank.domain.errors import BankError, RuleViolation, StorageError
from raybank.scenarios.node_chaos import NodeChaos
from raybank.storage.sharded import ShardedStorage, storage_for
from raybank.scenarios.workload import (
    DEPOSIT,
    OPENING_BALANCE,
    TRANSFER,
    WITHDRAW,
    Operation,
    Outcome,
    account_names,
    Invariants,
    minimums,
    latency_histogram,
    plan,
    summarize_latency,
    throughput_series,
)

PROGRESS_EVERY = 25
WINDOW = 128  # operations one lane of a hosted client sends together
LISTING_CHUNK = 2000  # accounts read per round of listings calls
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
        if self._bank.placement.hosted:
            return self._run_lanes(operations)
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

    def ready(self) -> bool:
        """Answers once the client has started: the run's clock starts when all have."""
        return True

    def _run_lanes(self, operations: list[Operation]) -> tuple[list[Outcome], int]:
        """Hosted placement: one lane per set of hosts its operations need (a host: its
        accounts' deposits, withdrawals and transfers among them; a pair of hosts: the
        transfers between their accounts), run side by side in threads. Each lane sends
        WINDOW operations at a time as a few grouped calls (execute_window) and waits for
        them, so a host restarting after a kill holds up only the lanes that need it (with
        one lane for every transfer, each restart held up all of them). An operation's
        latency is its window's."""
        lanes: dict[tuple[str, ...], list[Operation]] = {}
        for operation in operations:
            lanes.setdefault(self._lane(operation), []).append(operation)
        # Which operations bring a kill is drawn up front, in plan order (the same seed, the
        # same kills). A kill comes once as many operations have finished as come before it
        # here, so the kills spread over the run as they do one call at a time; made as each
        # window left, a big run's first windows brought a third of its kills at once.
        kill_after = [done for done in range(len(operations))
                      if self._chaos and self._rng.random() < self._chaos]
        outcomes: list[Outcome] = []
        finished = threading.Condition()
        lanes_done = threading.Event()

        def run(lane: list[Operation]) -> None:
            for start in range(0, len(lane), WINDOW):
                window = lane[start:start + WINDOW]
                started = time.perf_counter()
                statuses = execute_window(self._bank, window)
                latency_ms, at = (time.perf_counter() - started) * 1000, time.time()
                with finished:
                    outcomes.extend(Outcome(operation, status, latency_ms, at)
                                    for operation, status in zip(window, statuses))
                    finished.notify_all()
                    self._progress.report.remote(self._client, len(outcomes), self._kills)

        def chaos() -> None:
            for done in kill_after:  # a kill still due when the lanes end comes then
                with finished:
                    while len(outcomes) < done and not lanes_done.is_set():
                        finished.wait()
                self._kill_one()

        with ThreadPoolExecutor(len(lanes) + 1, thread_name_prefix="lane") as pool:
            killer = pool.submit(chaos)
            try:
                list(pool.map(run, lanes.values()))  # (list: a lane's exception is raised)
            finally:
                with finished:
                    lanes_done.set()
                    finished.notify_all()
            killer.result()  # (its exception too)
        return outcomes, self._kills

    def _lane(self, operation: Operation) -> tuple[str, ...]:
        """The hosts an operation needs: its account's, or both accounts' of a transfer."""
        host_of = self._bank.routing.host_of
        if operation.kind != TRANSFER:
            return (host_of(operation.account),)
        return tuple(sorted({host_of(operation.account), host_of(operation.target or "")}))

    def _kill_one(self) -> None:
        victim = self._bank.routing.live(self._rng.choice(self._victims))
        if victim is None:
            return
        info = describe(victim)
        if info["state"] != "ALIVE":
            return  # stopped (passivated) or restarting: no process of it to kill, and a
            # stopped actor's last pid may belong to another process by now
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
    except BankError as error:
        return status_of(error)


def status_of(answer: object) -> str:
    """What an answer says of its operation: "refused" by a rule, "error" (its outcome
    unknown: any other BankError), else "ok"."""
    return ("refused" if isinstance(answer, RuleViolation) else
            "error" if isinstance(answer, BankError) else "ok")


def execute_window(bank: Bank, operations: list[Operation]) -> list[str]:
    """Run many operations as a few grouped calls: each account's deposits and withdrawals
    as one group (one ``apply_groups`` per host, one sync per shard), sent first, and the
    transfers driven together by the coordinator meanwhile. Each status is what
    ``execute`` would say of the operation."""
    groups: dict[str, list[Group]] = {}
    places: dict[int, tuple[str, int]] = {}
    for operation in operations:
        if operation.kind != TRANSFER:
            calls = groups.setdefault(operation.account, [])
            places[operation.index] = (operation.account, len(calls))
            calls.append((operation.kind, (operation.op_id, operation.amount)))
    try:
        sent = bank.routing.submit_groups({name: (calls, False) for name, calls in groups.items()})
    except BankError as error:
        sent = dict.fromkeys(groups, error)
    transfers = [operation for operation in operations if operation.kind == TRANSFER]
    moved = dict(zip((operation.index for operation in transfers), bank.transfer_many(
        [(op.account, op.target or "", op.amount, op.op_id) for op in transfers])))
    answers: dict[str, Any] = {}
    for name, outcome in sent.items():
        try:
            answers[name] = outcome if isinstance(outcome, BankError) else outcome.result()
        except BankError as error:
            answers[name] = error
    statuses = []
    for operation in operations:
        if operation.kind == TRANSFER:
            answer = moved[operation.index]
        else:
            name, position = places[operation.index]
            answer = answers[name] if isinstance(answers[name], BankError) else (
                answers[name][position])
        statuses.append(status_of(answer))
    return statuses


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
    ray.get([client.ready.remote() for client in clients])  # their start is not the bank's
    bank.coordinator_call("status")  # the bank is open before the clock starts: its hosts
    # (create_many started them) and its transfer coordinator, else the first transfers wait
    # for it to start
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

    checks = Invariants(openings, outcomes)
    report = inspect_accounts(bank, names, checks)
    invariants = checks.result()
    statuses = Counter(o.status for o in outcomes)
    revived = passivation_counts(bank.home, bank.namespace)
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
        # revivals of account actors (counted in the namespace) and activations in hosts
        "placement": bank.placement.kind,
        "activations": report["activations"] + revived["activations"],
        "evictions": report["evictions"] + revived["evictions"],
        "calls": report["calls"], "seed": seed, "concurrency": concurrency, "chaos": chaos,
        "node_chaos": node_chaos.probability if node_chaos else 0.0,
        "node_kills": node_chaos.kills if node_chaos else 0,
        "node_failures": node_chaos.failures if node_chaos else [],
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


def inspect_accounts(bank: Bank, names: list[str], invariants: Invariants) -> dict[str, Any]:
    """Check every account from storage alone, one at a time into ``invariants`` (with its
    live balance, where its actor or host runs), and report what the live actors cost."""
    restarts, rss, calls = 0, [], Counter()
    activations = evictions = 0
    seen: set[str] = set()
    running: list[str] = []  # accounts whose actor or host runs: their live balance too
    for name in names:
        handle = bank.routing.live(name)
        if handle is None:
            continue
        if actor_id(handle) in seen:
            running.append(name)
            continue  # a host serves many accounts: count its process once
        try:
            process = ray.get(handle.process.remote())
        except RayError:  # it stopped since (passivated, or idle): storage alone has it
            continue
        running.append(name)
        seen.add(actor_id(handle))
        info = describe(handle)
        restarts += info["restarts"]
        calls.update(process["calls"])
        activations += process.get("activations", 0)
        evictions += process.get("evictions", 0)
        if info["pid"] and (memory := resident_mb(info["pid"])) is not None:
            rss.append(memory)
    live: dict[str, Decimal] = {}
    for start in range(0, len(running), LISTING_CHUNK):  # a few calls per host, not one each
        chunk = running[start:start + LISTING_CHUNK]
        for name, answer in bank.routing.submit_listings(chunk, {}).items():
            live[name] = results.Account.from_contract(answer.result()["summary"]).balance
    # fresh (nothing cached from the run); in hosted placement one read of each shard
    storage = storage_for(bank.home, bank.namespace, bank.placement, cache=True)
    if isinstance(storage, ShardedStorage):
        for shard in storage.each_shard():
            for name, events, state in shard.each_account():
                invariants.add(name, events or [], state, live.get(name))
    else:
        for name in names:
            store = storage.store_for(name)
            try:
                events, state = store.events(name), store.load(name)
            except StorageError:  # damaged: counted as a failed check, not a crash
                events, state = [], None
            invariants.add(name, events, state, live.get(name))
    return {"restarts": restarts, "activations": activations, "evictions": evictions,
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
