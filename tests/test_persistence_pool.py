"""Persistence through a pool of persistence actors: durable, one writer per journal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
    raybank.json("create", "alice", "--balance", "10.00")
    raybank.json("deposit", "alice", "5.00", "--op-id", "d1")
    storage = Storage(raybank.home, raybank.namespace)
    assert storage.persistence == "pool"
    journal = storage.store_for("alice").folder("alice") / "journal.log"
    account_pid = raybank.json("accounts")["accounts"][0]["actor"]["pid"]
    writers = holders(journal)
    assert writers and account_pid not in writers  # written by the pool, not the account

    raybank.json("kill", "alice", "--restart")
    assert raybank.json("deposit", "alice", "5.00", "--op-id", "d1")["duplicate"] is True
    for pid in writers:  # the persistence actor dies too: Ray restarts it, nothing is lost
        os.kill(pid, 9)
    assert raybank.json("withdraw", "alice", "1.00")["balance"] == "14.00"
    assert [e["type"] for e in raybank.json("history", "alice")["events"]] == [
        "created", "deposit", "withdrawal"]
    assert raybank.json("verify")["ok"] is True


def test_a_namespace_keeps_the_persistence_it_started_with(raybank):
    raybank.json("create", "bob")
    raybank.extra_env["RAYBANK_PERSISTENCE"] = "pool"
    refused = raybank.json("create", "carol", expect=2)
    assert refused["error"]["code"] == "invalid-option"
    raybank.extra_env["RAYBANK_PERSISTENCE"] = "sideways"
    assert raybank.json("create", "carol", expect=2)["error"]["code"] == "invalid-option"
