"""Persistence through a pool of persistence actors: durable, one writer per journal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from raybank.testing.faults import arm
from raybank.storage import Storage

pytestmark = pytest.mark.ray


def holders(path: Path) -> set[int]:
    """Processes with ``path`` open (the journal's writer)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) == str(path):
                    found.add(int(entry.name))
        except OSError:
            continue
    return found


def test_pooled_accounts_write_through_a_persistence_actor_and_recover(raybank):
    raybank.extra_env["RAYBANK_PERSISTENCE"] = "pool"
    raybank.json("create", "alice", "--balance", "10.00", "--op-id", "c1")
    raybank.json("deposit", "alice", "5.00", "--op-id", "d1")
    storage = Storage(raybank.home, raybank.namespace)
    assert storage.persistence == "pool"
    journal = storage.store_for("alice").folder("alice") / "journal.log"
    account_pid = raybank.json("accounts")["accounts"][0]["actor"]["pid"]
    writers = holders(journal)
    assert writers and account_pid not in writers  # written by the pool, not the account

    raybank.json("kill", "alice", "--restart")
    assert raybank.json("deposit", "alice", "5.00", "--op-id", "d1")["duplicate"] is True
    assert raybank.json("withdraw", "alice", "1.00", "--op-id", "w1")["balance"] == "14.00"
    assert [(e["op_id"], e["type"]) for e in raybank.json("history", "alice")["events"]] == [
        ("c1", "created"), ("d1", "deposit"), ("w1", "withdrawal")]
    assert raybank.json("verify")["ok"] is True


@pytest.mark.usefixtures("fault_injection")
def test_a_persistence_actor_that_dies_mid_append_applies_each_change_once(raybank):
    # The persistence actor exits after the event is durable and before it replies, so Ray
    # retries the append on its new process: the retry must be answered as done, never
    # written twice (the journal would become unreadable) nor refused as "account exists".
    raybank.extra_env["RAYBANK_PERSISTENCE"] = "pool"
    marker = arm(raybank.home, "pool-after-append", "bea")
    created = raybank.json("create", "bea", "--balance", "10.00", "--op-id", "c1")
    assert not marker.exists(), "the fault fired"
    assert created == {"name": "bea", "balance": "10.00", "min_balance": "0.00"}
    marker = arm(raybank.home, "pool-after-append", "bea")
    deposited = raybank.json("deposit", "bea", "5.00", "--op-id", "d1")
    assert not marker.exists(), "the fault fired"
    assert deposited == {"name": "bea", "balance": "15.00", "min_balance": "0.00"}
    assert raybank.json("balance", "bea")["balance"] == "15.00"
    assert [(e["op_id"], e["balance"]) for e in raybank.json("history", "bea")["events"]] == [
        ("c1", "10.00"), ("d1", "15.00")]
    assert raybank.json("verify") == {"ok": True, "checked": 1, "mismatches": []}
    raybank.json("kill", "bea")  # recovery from disk alone agrees
    assert raybank.json("deposit", "bea", "1.00")["balance"] == "16.00"


def test_a_namespace_keeps_the_persistence_it_started_with(raybank):
    raybank.json("create", "bob")
    raybank.extra_env["RAYBANK_PERSISTENCE"] = "pool"
    refused = raybank.json("create", "carol", expect=2)
    assert refused["error"]["code"] == "invalid-option"
    raybank.extra_env["RAYBANK_PERSISTENCE"] = "sideways"
    assert raybank.json("create", "carol", expect=2)["error"]["code"] == "invalid-option"
