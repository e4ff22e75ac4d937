"""The simulator's pure half: a seeded workload, and the invariants checked from storage.

No Ray here. The plan is a function of the seed alone, so the same seed replays the same
operations; the checks read only what storage says (journals and recovered states) plus what
the clients were told, never what the actors claim about themselves.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from raybank.domain import account as domain
from raybank.domain.account import Account, Event
from raybank.domain.errors import StorageError
from raybank.domain.money import CENT, ZERO

SIMULATION_PREFIX = "raybank-sim-"  # each run's own namespace starts with this
DEPOSIT, WITHDRAW, TRANSFER = "deposit", "withdraw", "transfer"
OPENING_BALANCE = Decimal("1000.00")
MIX = ((DEPOSIT, 0.35), (WITHDRAW, 0.35), (TRANSFER, 0.30))


@dataclass(frozen=True)
class Operation:
    """One planned command; ``op_id`` is derived from the seed, so retries are idempotent."""

    index: int
    kind: str
    account: str
    amount: Decimal
    op_id: str
    target: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What a client was told about one operation."""

    op: Operation
    status: str  # "ok", "refused" (a rule said no) or "error" (unknown: retried at the end)
    latency_ms: float
    finished_at: float = 0.0  # wall clock (time.time()) when the client got its answer


def account_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(count)]


def minimums(names: list[str], seed: int) -> dict[str, Decimal]:
    """A few accounts get an overdraft limit, a few a positive floor: rules get exercised."""
    rng = random.Random(f"{seed}:minimums")
    choices = (Decimal("0.00"), Decimal("0.00"), Decimal("-200.00"), Decimal("100.00"))
    return {name: rng.choice(choices) for name in names}


def plan(seed: int, names: list[str], count: int, transfers: bool = True) -> list[Operation]:
    """The seed's operations, in order. Amounts are whole cents between 0.01 and 400.00."""
    if not names:
        return []
    rng = random.Random(seed)
    mix = [(kind, weight) for kind, weight in MIX if transfers or kind != TRANSFER]
    kinds = [kind for kind, _ in mix]
    weights = [weight for _, weight in mix]
    operations = []
    for index in range(count):
        kind = rng.choices(kinds, weights)[0]
        if kind == TRANSFER and len(names) < 2:
            kind = DEPOSIT
        source_index = rng.randrange(len(names))
        source, target = names[source_index], None
        if kind == TRANSFER:  # any other account, without building a list of them
            other = rng.randrange(len(names) - 1)
            target = names[other + (other >= source_index)]
        amount = (Decimal(rng.randint(1, 40000)) * CENT).quantize(CENT)
        operations.append(Operation(index, kind, source, amount, f"sim-{seed}-{index}", target))
    return operations


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Invariants:
    """Every promise the bank makes, checked from storage one account at a time.

    ``add`` takes each account's journal and recovered state as storage gives them, plus
    what its live actor says; ``result`` says which promises held (True). Memory keeps op
    ids and transfer legs, not accounts, so a bank of 100,000 is checked without holding it.
    """

    def __init__(self, openings: dict[str, Decimal], outcomes: list[Outcome]) -> None:
        self._openings, self._outcomes = openings, outcomes
        self._readable: set[str] = set()
        self._total = ZERO
        self._journals_match = self._min_balance_respected = True
        self._op_ids: Counter[str] = Counter()
        self._legs: dict[str, set[str]] = defaultdict(set)

    def add(self, name: str, events: list[Event], stored: Account | None,
            live: Decimal | None = None) -> None:
        """One account: its journal, its state as recovered (None: unreadable, which fails
        the checks that need it) and its live balance (None: no live actor to ask)."""
        self._op_ids.update(event.op_id for event in events)
        for event in events:
            if event.transfer_id is not None:
                self._legs[event.transfer_id].add(event.type)
        if stored is None:
            return
        self._readable.add(name)
        self._total += stored.balance
        try:
            replayed = domain.replay(name, events)
        except StorageError:
            self._journals_match = False
            return
        if (replayed.balance, replayed.seq) != (stored.balance, stored.seq) or (
                live is not None and live != replayed.balance):
            self._journals_match = False
        if any(event.balance < stored.min_balance for event in events):
            self._min_balance_respected = False

    def result(self) -> dict[str, bool]:
        readable = self._readable == set(self._openings)
        acknowledged = [o.op for o in self._outcomes if o.status == "ok"]
        deposits = sum((op.amount for op in acknowledged if op.kind == DEPOSIT), ZERO)
        withdrawals = sum((op.amount for op in acknowledged if op.kind == WITHDRAW), ZERO)
        expected = sum(self._openings.values(), ZERO) + deposits - withdrawals
        complete = {frozenset({domain.HOLD, domain.TRANSFER_IN, domain.TRANSFER_OUT}),
                    frozenset({domain.HOLD, domain.HOLD_RELEASED})}
        applied = self._op_ids
        return {
            "money_conserved": readable and self._total == expected,
            "journals_match": readable and self._journals_match,
            "no_duplicate_ops": all(count == 1 for count in applied.values()),
            "min_balance_respected": readable and self._min_balance_respected,
            "transfers_complete": all(frozenset(types) in complete
                                      for types in self._legs.values()),
            "acknowledged_applied": all(
                (op.op_id in applied) if op.kind != TRANSFER else
                (f"{op.op_id}:in" in applied and f"{op.op_id}:out" in applied)
                for op in acknowledged),
        }


def summarize_latency(outcomes: list[Outcome]) -> dict[str, Any]:
    latencies = [o.latency_ms for o in outcomes]
    return {"p50": round(percentile(latencies, 0.50), 3),
            "p99": round(percentile(latencies, 0.99), 3)}


HISTOGRAM_BINS = 12
THROUGHPUT_BUCKETS = 12


def latency_histogram(latencies: list[float], bins: int = HISTOGRAM_BINS
                      ) -> list[dict[str, Any]]:
    """How many operations took how long, in bins of geometric width.

    Geometric, because latencies under chaos span milliseconds to seconds: equal-width bins
    would put almost everything in the first one.
    """
    if not latencies:
        return []
    low, high = max(min(latencies), 0.001), max(max(latencies), 0.001)
    if high <= low * 1.0001:
        return [{"from_ms": round(low, 3), "to_ms": round(high, 3), "count": len(latencies)}]
    ratio = (high / low) ** (1 / bins)
    edges = [low * ratio ** step for step in range(bins + 1)]
    edges[-1] = high
    counts = [0] * bins
    for value in latencies:
        step = 0
        while step < bins - 1 and value >= edges[step + 1]:
            step += 1
        counts[step] += 1
    return [{"from_ms": round(edges[i], 3), "to_ms": round(edges[i + 1], 3), "count": counts[i]}
            for i in range(bins)]


def throughput_series(finished_at: list[float], started: float, seconds: float,
                      buckets: int = THROUGHPUT_BUCKETS) -> list[dict[str, Any]]:
    """Operations completed per second in equal slices of the run: where it slowed down."""
    if not finished_at or seconds <= 0:
        return []
    width = seconds / buckets
    counts = [0] * buckets
    for at in finished_at:
        counts[min(buckets - 1, max(0, int((at - started) / width)))] += 1
    return [{"at_s": round(index * width, 3), "ops_per_s": round(count / width, 1)}
            for index, count in enumerate(counts)]
