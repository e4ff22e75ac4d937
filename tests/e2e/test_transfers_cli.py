"""Transfers end to end: the real CLI, a real cluster, real crashes at every step."""

from __future__ import annotations

import os
import signal
from decimal import Decimal

import pytest

from raybank.testing.faults import ENABLE_ENV, ENABLED, FAULTS_DIR, arm
from tests.support.cli import GATEWAY_ONLY, PLACEMENTS, Raybank, wait_all
from tests.support.probes import coordinator, legs

pytestmark = pytest.mark.ray

def coordinator_restarts(raybank: Raybank) -> int:
    return coordinator(raybank)["restarts"]


def balances(raybank: Raybank) -> dict[str, Decimal]:
    return {row["name"]: Decimal(row["balance"]) for row in raybank.json("accounts")["accounts"]}


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_transfer_moves_money_and_both_legs_are_in_history(raybank):
    raybank.json("create", "alice", "--balance", "100.00", "--min-balance", "20.00")
    raybank.json("create", "bob")
    moved = raybank.json("transfer", "alice", "bob", "25.00", "--op-id", "t-1")
    assert moved == {"transfer_id": "t-1", "amount": "25.00",
                     "from": {"name": "alice", "balance": "75.00", "min_balance": "20.00"},
                     "to": {"name": "bob", "balance": "25.00", "min_balance": "0.00"}}
    assert legs(raybank, "alice") == {("t-1", "hold"): 1, ("t-1", "transfer_out"): 1}
    assert legs(raybank, "bob") == {("t-1", "transfer_in"): 1}
    out = raybank.json("history", "alice")["events"][-1]
    assert (out["op_id"], out["type"], out["amount"], out["balance"]) == (
        "t-1:out", "transfer_out", "25.00", "75.00")
    shown = raybank("transfer", "bob", "alice", "1.00")
    assert shown.code == 0 and "from" in shown.stdout and "24.00" in shown.stdout
    generated = raybank.json("transfer", "bob", "alice", "5.00")
    assert len(generated["transfer_id"]) == 36 and generated["from"]["balance"] == "19.00"


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_repeated_op_id_is_applied_once_and_reuse_is_refused(raybank):
    raybank.json("create", "a", "--balance", "50.00")
    raybank.json("create", "b")
    first = raybank.json("transfer", "a", "b", "10.00", "--op-id", "pay-1")
    again = raybank.json("transfer", "a", "b", "10.00", "--op-id", "pay-1")
    assert again == {**first, "duplicate": True}
    for other in (("a", "b", "10.01"), ("b", "a", "10.00")):
        refused = raybank.json("transfer", *other, "--op-id", "pay-1", expect=1)
        assert refused["error"]["code"] == "op-id-reused"
    assert balances(raybank) == {"a": Decimal("40.00"), "b": Decimal("10.00")}


def test_refusals_change_nothing(raybank):
    raybank.json("create", "a", "--balance", "50.00", "--min-balance", "10.00")
    raybank.json("create", "b")
    refused = raybank.json("transfer", "a", "b", "40.01", "--op-id", "big", expect=1)
    assert refused["error"]["code"] == "insufficient-funds"
    assert raybank.json("transfer", "a", "b", "40.01", "--op-id", "big", expect=1) == refused
    assert raybank.json("transfer", "a", "nobody", "1.00", expect=3)["error"]["code"] == \
        "account-not-found"
    assert raybank.json("transfer", "nobody", "a", "1.00", expect=3)["error"]["code"] == \
        "account-not-found"
    assert raybank.json("transfer", "a", "a", "1.00", expect=2)["error"]["code"] == \
        "same-account"
    for bad in ("0", "-1", "1e3", "0.001", "abc"):
        result = raybank("transfer", "--json", "a", "b", "--", bad)
        assert result.code == 2 and result.json["error"]["code"] == "invalid-amount", bad
    assert balances(raybank) == {"a": Decimal("50.00"), "b": Decimal("0.00")}
    assert [e["type"] for e in raybank.json("history", "a")["events"]] == ["created"]
    assert [e["type"] for e in raybank.json("history", "b")["events"]] == ["created"]


def test_no_command_arms_a_fault_even_where_fault_injection_is_enabled(raybank):
    raybank.json("create", "a", "--balance", "5.00")
    raybank.json("create", "b")
    enabled = Raybank(raybank.home, raybank.namespace,
                      {**raybank.extra_env, ENABLE_ENV: ENABLED})
    refused = enabled.json("transfer", "a", "b", "1.00", "--fail-at", "after-hold", expect=2)
    assert refused["error"]["code"] == "invalid-input"  # no such option
    assert not (raybank.home / FAULTS_DIR).exists()
    assert balances(raybank) == {"a": Decimal("5.00"), "b": Decimal("0.00")}


@GATEWAY_ONLY
def test_concurrent_transfers_both_ways_conserve_money_and_never_overdraw(raybank):
    raybank.json("create", "a", "--balance", "30.00", "--min-balance", "10.00")
    raybank.json("create", "b", "--balance", "20.00", "--min-balance", "-5.00")
    raybank.json("create", "c", "--balance", "10.00")
    raybank.json("transfer", "c", "a", "1.00", "--op-id", "warm-up")
    before = coordinator(raybank)
    pairs = [("a", "b"), ("b", "a"), ("b", "c"), ("c", "a"), ("a", "c")]
    processes = [raybank.popen("transfer", *pairs[n % len(pairs)], "7.00", "--op-id",
                               f"c-{n}", "--json") for n in range(20)]
    processes.append(raybank.popen("kill", "a", "--restart", "--json"))  # a death mid-way
    processes[0].wait(timeout=120)
    os.kill(before["pid"], signal.SIGKILL)  # and the coordinator's, with others in flight
    results = wait_all(processes)
    assert coordinator(raybank)["restarts"] == before["restarts"] + 1
    assert results[-1].code == 0, results[-1].stderr[-2000:]
    done = {"warm-up"} | {f"c-{n}" for n, result in enumerate(results[:-1]) if result.code == 0}
    for result in results[:-1]:
        assert result.code == 0 or (result.code == 1 and
                                    result.json["error"]["code"] == "insufficient-funds")
    final = balances(raybank)
    assert sum(final.values()) == Decimal("60.00")
    assert final["a"] >= 10 and final["b"] >= -5 and final["c"] >= 0
    for name in "abc":
        for (tid, kind), count in legs(raybank, name).items():
            assert count == 1, (name, tid, kind)
            assert kind == "hold" or tid in done  # refused transfers moved nothing
        held = [e for e in raybank.json("history", name)["events"] if e["type"] == "hold"]
        assert all(e["transfer_id"] in done for e in held)


STEPS = ["transfer-after-begin", "transfer-after-hold", "transfer-after-credit",
         "transfer-before-settle", "transfer-after-settle"]


def run_faulty_transfers(raybank: Raybank, faults: list[tuple[str, str]]) -> int:
    """One 1.00 transfer a -> b per (step, subject) fault, armed just before it; returns
    how often the coordinator restarted."""
    raybank.json("create", "a", "--balance", "50.00")
    raybank.json("create", "b", "--balance", "5.00")
    raybank.json("transfer", "a", "b", "1.00", "--op-id", "warm-up")  # coordinator exists
    restarts = coordinator_restarts(raybank)
    tids = [f"t-{step}-{subject}" for step, subject in faults]
    for n, ((step, subject), tid) in enumerate(zip(faults, tids), start=1):
        marker = arm(raybank.home, step, subject)
        moved = raybank.json("transfer", "a", "b", "1.00", "--op-id", tid)
        assert not marker.exists(), f"{tid} did not fire"
        assert "duplicate" not in moved, tid  # Ray's retry of the same call is no repeat
        assert (moved["from"]["balance"], moved["to"]["balance"]) == (
            f"{49 - n}.00", f"{6 + n}.00"), tid
        assert raybank.json("transfer", "a", "b", "1.00", "--op-id", tid) == {
            **moved, "duplicate": True}
    assert balances(raybank) == {"a": Decimal(49 - len(faults)), "b": Decimal(6 + len(faults))}
    tids = ["warm-up", *tids]
    assert legs(raybank, "a") == {**{(tid, "hold"): 1 for tid in tids},
                                  **{(tid, "transfer_out"): 1 for tid in tids}}
    assert legs(raybank, "b") == {(tid, "transfer_in"): 1 for tid in tids}
    return coordinator_restarts(raybank) - restarts


@pytest.mark.usefixtures("fault_injection")
@GATEWAY_ONLY
def test_a_coordinator_death_at_each_step_still_moves_the_money_exactly_once(raybank):
    faults = [(step, "coordinator") for step in STEPS]
    assert run_faulty_transfers(raybank, faults) == len(STEPS)


@pytest.mark.usefixtures("fault_injection")
@GATEWAY_ONLY
def test_an_account_killed_for_good_mid_transfer_is_revived_and_the_transfer_ends(raybank):
    faults = [("transfer-after-hold", "a"), ("transfer-after-hold", "b"),
              ("transfer-after-credit", "a"), ("transfer-before-settle", "b"),
              ("transfer-after-settle", "b")]
    assert run_faulty_transfers(raybank, faults) == 0
