"""Hosted placement end to end: many accounts per host actor, crashes and passivation."""

from __future__ import annotations

import os
import signal
from collections import Counter
from decimal import Decimal

import pytest

from raybank.storage.placement import DEFAULT_HOSTS, DEFAULT_SHARDS, Placement
from tests.support.cli import Raybank, wait_all

pytestmark = pytest.mark.ray

PLACED = Placement("hosted", DEFAULT_SHARDS, DEFAULT_HOSTS)


def names_on_one_host(count: int) -> list[str]:
    """Account names that the default placement puts on the same host."""
    names = [f"acct-{n}" for n in range(200)]
    first = PLACED.host_of(names[0])
    return [name for name in names if PLACED.host_of(name) == first][:count]


@pytest.mark.parametrize("placement", ["hosted"])
def test_the_placement_is_fixed_at_the_first_account_and_shown(driver_bank: Raybank):
    driver_bank.json("create", "alice", "--balance", "3.00")
    assert driver_bank.json("status")["placement"] == "hosted"
    refused = driver_bank.json("--placement", "actor", "create", "bob", expect=2)
    assert refused["error"]["code"] == "invalid-option"
    row = driver_bank.json("accounts")["accounts"][0]
    assert row["actor"]["host"] == f"raybank:host-{PLACED.host_of('alice')}"
    assert row["actor"]["state"] == "ALIVE" and row["actor"]["pid"]
    table = driver_bank("accounts")
    assert table.code == 0 and f"host-{PLACED.host_of('alice')}" in table.stdout
    # An actor namespace refuses hosted later, the same way.
    actor = Raybank(driver_bank.home, driver_bank.namespace + "-a",
                    {**driver_bank.extra_env, "RAYBANK_PLACEMENT": "actor"})
    actor.json("create", "carol")
    assert actor.json("status")["placement"] == "actor"
    assert actor.json("--placement", "hosted", "create", "dan", expect=2)[
        "error"]["code"] == "invalid-option"
    assert "host" not in actor.json("accounts")["accounts"][0]["actor"]


@pytest.mark.parametrize("placement", ["hosted"])
def test_a_host_killed_mid_deposits_loses_nothing_and_applies_nothing_twice(
        driver_bank: Raybank):
    names = names_on_one_host(3)
    for name in names:
        driver_bank.json("create", name)
    pid = driver_bank.json("accounts")["accounts"][0]["actor"]["pid"]
    deposits = [(name, f"dep-{name}-{n}") for n in range(4) for name in names]
    processes = [driver_bank.popen("deposit", name, "1.00", "--op-id", op_id, "--json")
                 for name, op_id in deposits]
    processes[0].wait(timeout=120)  # the others are on their way: kill the host under them
    os.kill(pid, signal.SIGKILL)
    results = wait_all(processes)
    acknowledged = [deposit for deposit, result in zip(deposits, results) if result.code == 0]
    assert all(result.code in (0, 4) for result in results), [r.stdout for r in results]
    for (name, op_id), result in zip(deposits, results):
        if result.code == 4:  # outcome unknown: repeating with the op id applies it once
            driver_bank.json("deposit", name, "1.00", "--op-id", op_id)
    for name in names:
        events = driver_bank.json("history", name)["events"]
        counted = Counter(event["op_id"] for event in events)
        assert max(counted.values()) == 1  # no op id applied twice
        assert {op_id for each, op_id in acknowledged if each == name} <= set(counted)
        assert driver_bank.json("balance", name)["balance"] == "4.00"
    host = driver_bank.json("accounts")["accounts"][0]["actor"]
    assert host["pid"] != pid and host["restarts"] >= 1


@pytest.mark.parametrize("placement", ["hosted"])
def test_passivation_loses_no_change_and_no_op_id(driver_bank: Raybank):
    bank = Raybank(driver_bank.home, driver_bank.namespace,
                   {**driver_bank.extra_env, "RAYBANK_HOSTS": "1", "RAYBANK_HOST_MAX_LIVE": "1"})
    bank.json("create", "p1", "--balance", "10.00")
    assert bank.json("deposit", "p1", "5.00", "--op-id", "once")["balance"] == "15.00"
    bank.json("create", "p2")  # the one host keeps one account live: p1 is evicted
    again = bank.json("deposit", "p1", "5.00", "--op-id", "once")
    assert again["balance"] == "15.00" and again["duplicate"] is True
    bank.json("deposit", "p2", "1.00")  # p1 evicted again
    assert bank.json("balance", "p1")["balance"] == "15.00"
    assert [e["op_id"] for e in bank.json("history", "p1")["events"]].count("once") == 1
    accounts = bank.json("accounts")
    assert {row["actor"]["host"] for row in accounts["accounts"]} == {"raybank:host-0"}
    assert Decimal(accounts["total"]) == Decimal("16.00")


@pytest.mark.parametrize("placement", ["hosted"])
def test_kill_with_restart_restarts_the_accounts_host(raybank: Raybank):
    raybank.json("create", "erin", "--balance", "42.10")
    killed = raybank.json("kill", "erin", "--restart")
    assert killed["restarted"] is True and killed["recovered"] is True
    before, after = killed["before"]["actor"], killed["after"]["actor"]
    assert before["host"] == after["host"] == f"raybank:host-{PLACED.host_of('erin')}"
    assert after["pid"] != before["pid"] and after["restarts"] == before["restarts"] + 1
    assert raybank.json("deposit", "erin", "0.90")["balance"] == "43.00"
