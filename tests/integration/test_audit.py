"""What verify compares, without Ray: a full replay of the history against what recovery loads."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from raybank.domain.account import Account
from raybank.storage.audit import differences, fingerprint, read_back
from raybank.storage import JournalStore, PickledStateStore
from raybank.storage.base import AccountStore
from raybank.storage.codecs import account_from_snapshot, snapshot_record
from raybank.storage.files import write_atomically
from raybank.storage.framing import frame


def write_history(store: AccountStore, deposits: int = 2) -> Account:
    account = Account(name="alice")
    events = [account.decide_open("open", D("10.00"), D("0.00"))]
    account.apply(events[0])
    store.append(account, events[0])
    for i in range(deposits):
        event = account.decide_deposit(f"d{i}", D("1.25"))
        account.apply(event)
        store.append(account, event)
    event = account.decide_hold("t1:hold", "t1", D("2.00"), "bob")
    account.apply(event)
    store.append(account, event)
    store.close_all()
    return account


def forge_snapshot(store: JournalStore, account: Account) -> None:
    """A snapshot of ``account`` pointing just past its last record, with a valid checksum."""
    folder = store.folder(account.name)
    data = (folder / store.marker).read_bytes()
    write_atomically(folder / f"snapshot-{account.seq:020d}.json",
                     frame({"format": 1, "offset": len(data.rstrip(b"\0")),
                            "account": snapshot_record(account)}))


def copy_of(account: Account) -> Account:
    return account_from_snapshot(snapshot_record(account))


@pytest.fixture
def journal(tmp_path: Path) -> JournalStore:
    return JournalStore(tmp_path / "accounts", snapshot_every=1000)


def test_an_honest_history_reads_back_the_same_both_ways(tmp_path):
    store = JournalStore(tmp_path / "accounts", snapshot_every=2)  # snapshot + tail
    written = write_history(store, deposits=4)
    assert sorted(p.name for p in store.folder("alice").glob("snapshot-*"))
    check = read_back(store, "alice")
    assert check.differences == []
    assert fingerprint(check.replayed) == fingerprint(written)


@pytest.mark.parametrize("damage, what", [
    (lambda a: setattr(a, "balance", D("99.00")), ["balance"]),
    (lambda a: setattr(a, "min_balance", D("-5.00")), ["min balance"]),
    (lambda a: a.holds.clear(), ["holds"]),
    (lambda a: a.applied.pop("d0"), ["op ids"]),
])
def test_a_snapshot_whose_content_disagrees_with_the_journal_is_found(journal, damage, what):
    forged = copy_of(write_history(journal))
    damage(forged)
    forge_snapshot(journal, forged)
    check = read_back(journal, "alice")
    assert check.differences == what
    assert check.replayed.balance == D("12.50")


def test_a_whole_state_file_that_disagrees_with_its_events_is_found(tmp_path):
    store = PickledStateStore(tmp_path / "accounts", b"k" * 32)
    account = write_history(store)
    events = store.events("alice")
    forged = copy_of(account)
    forged.balance = D("99.00")
    write_atomically(store.folder("alice") / store.marker, store._seal(forged, events))
    check = read_back(store, "alice")
    assert (check.differences, check.loaded.balance) == (["balance"], D("99.00"))


def test_differences_name_every_field_that_differs_in_a_fixed_order():
    one = Account(name="a")
    two = copy_of(one)
    two.balance, two.seq = D("1.00"), 3
    assert differences(fingerprint(one), fingerprint(two)) == ["balance", "seq"]


def test_op_ids_compare_by_what_they_did_not_by_insertion_order(journal):
    account = write_history(journal)
    shuffled = copy_of(account)
    shuffled.applied = dict(reversed(list(account.applied.items())))
    assert fingerprint(shuffled) == fingerprint(account)
    changed = copy_of(account)
    op = changed.applied["d0"]
    changed.applied["d0"] = type(op)(op.type, D("1.26"), op.balance)
    assert differences(fingerprint(account), fingerprint(changed)) == ["op ids"]
