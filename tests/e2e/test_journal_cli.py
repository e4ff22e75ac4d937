"""Exactly-once operations, history and verify, end to end on a real cluster."""

from __future__ import annotations

from decimal import Decimal

import pytest

from raybank.domain.account import Account
from raybank.storage.codecs import event_record, snapshot_record
from raybank.testing.faults import arm
from raybank.storage import Storage
from raybank.storage.framing import frame

pytestmark = pytest.mark.ray


def test_repeating_an_op_id_returns_the_first_result_and_changes_nothing(raybank):
    raybank.json("create", "alice", "--balance", "10.00", "--op-id", "open-1")
    first = raybank.json("deposit", "alice", "5.00", "--op-id", "dep-1")
    raybank.json("deposit", "alice", "1.00")
    again = raybank.json("deposit", "alice", "5.00", "--op-id", "dep-1")
    assert again == {**first, "duplicate": True}
    assert raybank.json("balance", "alice")["balance"] == "16.00"
    reopened = raybank.json("create", "alice", "--balance", "10.00", "--op-id", "open-1")
    assert reopened["duplicate"] is True
    reused = raybank.json("withdraw", "alice", "5.00", "--op-id", "dep-1", expect=1)
    assert reused["error"]["code"] == "op-id-reused"


def test_op_ids_are_remembered_across_restarts_and_passivation(raybank):
    raybank.json("create", "bob", "--balance", "10.00")
    raybank.json("withdraw", "bob", "3.00", "--op-id", "w-1")
    raybank.json("kill", "bob", "--restart")
    assert raybank.json("withdraw", "bob", "3.00", "--op-id", "w-1")["duplicate"] is True
    raybank.json("kill", "bob")
    assert raybank.json("withdraw", "bob", "3.00", "--op-id", "w-1")["duplicate"] is True
    assert raybank.json("balance", "bob")["balance"] == "7.00"


@pytest.mark.parametrize("step", ["before-append", "after-append"])
@pytest.mark.usefixtures("fault_injection")
def test_a_call_ray_retries_after_the_actor_died_mid_call_is_applied_once(raybank, step):
    raybank.json("create", "carol", "--balance", "1.00")
    pid = raybank.json("accounts")["accounts"][0]["actor"]["pid"]
    marker = arm(raybank.home, step, "carol")
    result = raybank.json("deposit", "carol", "2.00", "--op-id", "retried")
    assert not marker.exists(), "the fault fired"
    assert result["balance"] == "3.00"
    # after-append: the first attempt's event was durable, so the retry is answered from it
    assert result.get("duplicate", False) is (step == "after-append")
    deposits = [e for e in raybank.json("history", "carol")["events"] if e["type"] == "deposit"]
    assert [(e["op_id"], e["amount"]) for e in deposits] == [("retried", "2.00")]
    actor = raybank.json("accounts")["accounts"][0]["actor"]
    assert actor["pid"] != pid and actor["restarts"] == 1


def test_history_lists_events_oldest_first_with_balances(raybank):
    raybank.json("create", "dave", "--balance", "100.00", "--op-id", "o")
    raybank.json("deposit", "dave", "0.50", "--op-id", "d")
    raybank.json("withdraw", "dave", "20.00", "--op-id", "w")
    events = raybank.json("history", "dave")["events"]
    assert [(e["seq"], e["op_id"], e["type"], e["amount"], e["balance"]) for e in events] == [
        (1, "o", "created", "100.00", "100.00"),
        (2, "d", "deposit", "0.50", "100.50"),
        (3, "w", "withdrawal", "20.00", "80.50"),
    ]
    assert all(e["at"].endswith("+00:00") for e in events)
    assert [e["seq"] for e in raybank.json("history", "dave", "--limit", "2")["events"]] == [2, 3]
    table = raybank("history", "dave")
    assert table.code == 0 and "withdrawal" in table.stdout


def test_both_storage_formats_work_side_by_side(raybank):
    raybank.json("create", "erin", "--balance", "4.00", "--storage", "snapshot")
    raybank.json("create", "fay", "--balance", "4.00")
    for name in ("erin", "fay"):
        raybank.json("deposit", name, "1.00")
        raybank.json("kill", name, "--restart")
        assert raybank.json("balance", name)["balance"] == "5.00"
        assert len(raybank.json("history", name)["events"]) == 2
    storage = Storage(raybank.home, raybank.namespace)
    assert [storage.store_for(n).kind for n in ("erin", "fay")] == ["snapshot", "journal"]
    bad = raybank("create", "gus", "--storage", "floppy", "--json")
    assert bad.code == 2


def test_verify_rebuilds_from_storage_and_reports_mismatches(raybank):
    raybank.json("create", "hal", "--balance", "10.00")
    raybank.json("create", "ida", "--balance", "20.00")
    assert raybank.json("verify") == {"ok": True, "checked": 2, "mismatches": []}
    # Write an event behind the live actor's back: storage and actor now disagree.
    store = Storage(raybank.home, raybank.namespace).store_for("hal")
    account = store.load("hal")
    event = account.decide_deposit("sneaky", Decimal("5.00"))
    path = store.folder("hal") / "journal.log"
    with open(path, "r+b") as journal:  # where an append writes: into the zeroed space
        journal.seek(len(path.read_bytes().rstrip(b"\0")))
        journal.write(frame(event_record(event)))
    result = raybank.json("verify", expect=1)
    assert result == {"ok": False, "checked": 2, "mismatches": [
        {"name": "hal", "stored": "15.00", "live": "10.00", "what": "balance, op ids, seq"}]}
    assert raybank.json("verify", "ida")["ok"] is True
    assert isinstance(account, Account)


def test_verify_finds_a_snapshot_whose_content_disagrees_with_the_journal(raybank):
    raybank.json("create", "kim", "--balance", "10.00")
    raybank.json("deposit", "kim", "5.00")
    raybank.json("kill", "kim")  # no live actor to compare with: only storage can tell
    # A snapshot with a good checksum, at the right offset, holding a wrong balance.
    store = Storage(raybank.home, raybank.namespace).store_for("kim")
    forged = store.load("kim")
    forged.balance = Decimal("99.00")
    folder = store.folder("kim")
    offset = len((folder / "journal.log").read_bytes().rstrip(b"\0"))
    (folder / f"snapshot-{forged.seq:020d}.json").write_bytes(
        frame({"format": 1, "offset": offset, "account": snapshot_record(forged)}))
    assert raybank.json("verify", expect=1) == {"ok": False, "checked": 1, "mismatches": [
        {"name": "kim", "stored": "15.00", "live": "99.00", "what": "snapshot"}]}
    human = raybank("verify", "kim")
    assert human.code == 1 and "snapshot" in human.stdout, human


def test_corrupt_state_is_exit_4_naming_the_file_and_never_reset(raybank):
    raybank.json("create", "jan", "--balance", "10.00")
    raybank.json("kill", "jan")
    store = Storage(raybank.home, raybank.namespace).store_for("jan")
    journal = store.folder("jan") / "journal.log"
    data = bytearray(journal.read_bytes())
    data[20] ^= 0x01
    journal.write_bytes(bytes(data))
    for command in (("balance", "jan"), ("deposit", "jan", "1.00"), ("create", "jan")):
        failed = raybank.json(*command, expect=4)
        assert str(journal) in failed["error"]["message"], failed
    assert raybank.json("verify", "jan", expect=4)["error"]["code"] == "storage-corrupt"
