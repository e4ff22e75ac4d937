"""The shard journal: many accounts in one file, one fenced writer, one sync for many."""

from __future__ import annotations

import json
import os
import threading
import zlib
from decimal import Decimal as D
from pathlib import Path

import pytest

from raybank.actors.live_account import LiveAccount
from raybank.domain.account import Account
from raybank.domain.errors import AccountExists, AccountNotFound, StaleShard, StorageCorrupt
from raybank.storage.codecs import event_record
from raybank.storage.shard_journal import JOURNAL, ShardStore
from raybank.storage.placement import shard_of
from raybank.storage.sharded import ShardedStorage


def live(store: ShardStore, name: str, home: Path) -> LiveAccount:
    """The same exactly-once core a host uses, writing through the shard."""
    return LiveAccount(name, lambda kind: store, home)


def test_many_accounts_round_trip_and_disk_grows_with_events_not_accounts(tmp_path: Path
                                                                          ) -> None:
    store = ShardStore(tmp_path / "000", writer=True, snapshot_every=5)
    for n in range(200):
        account = live(store, f"a{n}", tmp_path)
        account.open(f"open-{n}", D("10.00"), D("0.00"))
        for k in range(n % 7):
            account.deposit(f"dep-{n}-{k}", D("1.00"))
    store.close_all()
    used = (tmp_path / "000" / JOURNAL).read_bytes().index(b"\0")
    events = sum(1 + n % 7 for n in range(200))
    assert used < events * 400  # a few hundred bytes an event; no page or folder an account
    reread = ShardStore(tmp_path / "000", writer=True, snapshot_every=5)
    assert reread.names() == sorted(f"a{n}" for n in range(200))
    for n in (0, 6, 13, 199):
        account = reread.load(f"a{n}")
        assert account.balance == D("10.00") + n % 7
        assert account.seq == 1 + n % 7
        assert f"dep-{n}-{n % 7 - 1}" in account.applied or n % 7 == 0
    assert [e.type for e in reread.events("a6")] == ["created"] + ["deposit"] * 6


def test_a_repeated_op_id_after_a_reload_is_answered_not_applied(tmp_path: Path) -> None:
    store = ShardStore(tmp_path / "s", writer=True, snapshot_every=2)
    alice = live(store, "alice", tmp_path)
    alice.open("o", D("1.00"), D("0.00"))
    for k in range(5):
        alice.deposit(f"d{k}", D("1.00"))
    store.close_all()
    again = live(ShardStore(tmp_path / "s", writer=True, snapshot_every=2), "alice", tmp_path)
    assert again.deposit("d1", D("1.00"))["duplicate"] is True
    assert again.summary()["balance"] == D("6.00")


def test_a_second_create_is_refused_and_an_unknown_account_is_not_found(tmp_path: Path
                                                                        ) -> None:
    store = ShardStore(tmp_path / "s", writer=True)
    live(store, "bob", tmp_path).open("o1", D("0.00"), D("0.00"))
    with pytest.raises(AccountExists):
        live(ShardStore(tmp_path / "s", writer=True), "bob", tmp_path).open(
            "o2", D("0.00"), D("0.00"))
    with pytest.raises(AccountNotFound):
        store.load("nobody")


def test_a_stale_writer_cannot_write_once_its_shard_was_taken_over(tmp_path: Path) -> None:
    old = ShardStore(tmp_path / "s", writer=True)
    live(old, "carol", tmp_path).open("o", D("5.00"), D("0.00"))
    new = ShardStore(tmp_path / "s", writer=True)  # e.g. the host restarted elsewhere
    assert new.epoch == old.epoch + 1
    stale = live(old, "carol", tmp_path)
    with pytest.raises(StaleShard) as refused:
        stale.deposit("d-stale", D("1.00"))
    assert refused.value.not_applied and refused.value.exit_code == 4
    current = live(new, "carol", tmp_path)
    assert current.deposit("d-new", D("2.00"))["balance"] == D("7.00")
    old.close_all()  # the stale writer never erases or writes anything on its way out
    assert ShardStore(tmp_path / "s").load("carol").balance == D("7.00")


def test_a_torn_tail_is_dropped_and_damage_inside_is_an_error(tmp_path: Path) -> None:
    store = ShardStore(tmp_path / "s", writer=True)
    live(store, "dan", tmp_path).open("o", D("5.00"), D("0.00"))
    live(store, "dan", tmp_path).deposit("d", D("1.00"))
    store.close_all()
    path = tmp_path / "s" / JOURNAL
    data = bytearray(path.read_bytes())
    end = data.index(b"\0")
    data[end:end + 20] = b'0000beef {"account":'  # a write cut off by a crash
    path.write_bytes(bytes(data))
    repaired = ShardStore(tmp_path / "s", writer=True)
    assert repaired.load("dan").balance == D("6.00")
    live(repaired, "dan", tmp_path).deposit("d2", D("1.00"))
    repaired.close_all()
    intact = path.read_bytes()
    data = bytearray(intact)
    data[12] ^= 0x01  # a flipped byte in the first record
    path.write_bytes(bytes(data))
    with pytest.raises(StorageCorrupt):
        ShardStore(tmp_path / "s")
    data = bytearray(intact)
    data[data.index(b"\n") + 1] = 0  # zeros over a record in the middle: never a "tail"
    path.write_bytes(bytes(data))
    with pytest.raises(StorageCorrupt):
        ShardStore(tmp_path / "s", writer=True)
    assert path.read_bytes() == bytes(data)  # nothing acknowledged was wiped


def test_concurrent_accounts_share_syncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    store = ShardStore(tmp_path / "s", writer=True)
    names = [f"t{n}" for n in range(8)]
    accounts = {name: live(store, name, tmp_path) for name in names}
    for name, account in accounts.items():
        account.open(f"o-{name}", D("0.00"), D("0.00"))
    syncs = 0
    real = os.fdatasync

    def counted(fd: int) -> None:
        nonlocal syncs
        syncs += 1
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counted)

    def deposits(name: str) -> None:
        for k in range(25):
            accounts[name].deposit(f"{name}-{k}", D("1.00"))

    threads = [threading.Thread(target=deposits, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert syncs < 8 * 25  # changes of different accounts shared syncs
    store.close_all()
    reread = ShardStore(tmp_path / "s")
    assert {name: reread.load(name).balance for name in names} == dict.fromkeys(
        names, D("25.00"))


def test_a_reader_never_writes(tmp_path: Path) -> None:
    writer = ShardStore(tmp_path / "s", writer=True)
    live(writer, "eve", tmp_path).open("o", D("1.00"), D("0.00"))
    reader = ShardStore(tmp_path / "s")
    assert reader.exists("eve") and reader.epoch == 0
    with pytest.raises(Exception, match="reading only"):
        live(reader, "eve", tmp_path).deposit("d", D("1.00"))
    assert live(writer, "eve", tmp_path).deposit("d", D("1.00"))["balance"] == D("2.00")


def test_the_sharded_read_side_finds_every_account_one_shard_at_a_time(tmp_path: Path
                                                                       ) -> None:
    sharded = ShardedStorage(tmp_path, "ns", shards=4)
    writers = {shard: ShardStore(sharded.folder(shard), writer=True) for shard in range(4)}
    names = [f"acct-{n}" for n in range(40)]
    for name in names:
        store = writers[shard_of(name, 4)]
        live(store, name, tmp_path).open(f"o-{name}", D("1.00"), D("0.00"))
    assert len({shard_of(name, 4) for name in names}) == 4  # spread over every shard
    assert sharded.names() == sorted(names) and sharded.count() == 40
    assert sharded.exists("acct-7") and not sharded.exists("acct-99")
    assert sharded.store_for("acct-7").load("acct-7").balance == D("1.00")
    assert shard_of("alice", 64) == 9  # blake2b of the name: the same in every process


def _append_line(path: Path, payload: bytes) -> None:
    """Write one framed line (right checksum) where the journal's zeroed space begins."""
    data = bytearray(path.read_bytes())
    end = data.index(b"\0")
    line = b"%08x " % zlib.crc32(payload) + payload + b"\n"
    data[end:end + len(line)] = line
    path.write_bytes(bytes(data))


def test_a_line_of_another_shape_is_indexed_and_an_event_out_of_order_refuses_its_account(
        tmp_path: Path) -> None:
    """An opening scan checks every line's checksum but decodes only lines not in the
    shape raybank writes; an event with a right checksum that does not follow its
    account's last one is refused when that account loads, and only that account."""
    store = ShardStore(tmp_path / "s", writer=True)
    erin = live(store, "erin", tmp_path)
    erin.open("o", D("5.00"), D("0.00"))
    live(store, "fay", tmp_path).open("o", D("1.00"), D("0.00"))
    store.close_all()
    path = tmp_path / "s" / JOURNAL
    deposit = event_record(Account(name="x", seq=1, balance=D("5.00")).decide_deposit(
        "d", D("2.00")))
    # The same event, its keys in another order: not the shape a scan reads without decoding.
    _append_line(path, json.dumps({"event": deposit, "account": "erin"}).encode())
    assert ShardStore(tmp_path / "s").load("erin").balance == D("7.00")
    _append_line(path, json.dumps({"account": "erin", "event": {**deposit, "seq": 9}},
                                  sort_keys=True, separators=(",", ":")).encode())
    reopened = ShardStore(tmp_path / "s", writer=True)
    with pytest.raises(StorageCorrupt, match="does not follow"):
        reopened.load("erin")
    assert reopened.load("fay").balance == D("1.00")
