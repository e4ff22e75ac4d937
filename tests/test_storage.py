"""The storage contract, run against every backend; then each format's own damage cases.

No Ray: stores are driven the way the account actor drives them (decide, apply, append) and
"restarts" are new store objects reading the same folder, as a restarted actor would.
"""

from __future__ import annotations

import stat
from decimal import Decimal as D
from pathlib import Path

import pytest

from raybank.domain.account import Account
from raybank.domain.errors import AccountNotFound, RuleViolation, StorageError
from raybank.storage import JournalStore, PickledStateStore
from raybank.storage.base import AccountStore
from raybank.storage.journal import SNAPSHOT_SPACING


def write_history(store: AccountStore, name: str = "alice", deposits: int = 5) -> Account:
    account = Account(name=name)
    for event in [account.decide_open("open", D("10.00"), D("0.00"))]:
        account.apply(event)
        store.append(account, event)
    for i in range(deposits):
        event = account.decide_deposit(f"d{i}", D("1.25"))
        account.apply(event)
        store.append(account, event)
    store.close_all()  # as the writing process's death would
    return account


def records_end(data: bytes) -> int:
    """Where a file's records stop (journals are followed by zeroed, preallocated space)."""
    return len(data.rstrip(b"\0"))


class StoreContract:
    """What every AccountStore promises. Subclasses say how to build one."""

    def build(self, root: Path) -> AccountStore:
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def _close_stores(self):
        self._made: list[AccountStore] = []
        yield
        for store in self._made:
            store.close_all()

    def make(self, root: Path) -> AccountStore:
        store = self.build(root)
        self._made.append(store)
        return store

    @pytest.fixture
    def root(self, tmp_path: Path) -> Path:
        return tmp_path / "accounts"

    def test_acknowledged_state_survives_a_restart(self, root):
        written = write_history(self.make(root), deposits=7)
        restarted = self.make(root).load("alice", repair=True)
        assert (restarted.balance, restarted.seq) == (D("18.75"), 8)
        assert restarted.applied.keys() == written.applied.keys()

    def test_events_come_back_oldest_first(self, root):
        write_history(self.make(root), deposits=3)
        events = self.make(root).events("alice")
        assert [e.type for e in events] == ["created", "deposit", "deposit", "deposit"]
        assert [e.balance for e in events] == [D("10.00"), D("11.25"), D("12.50"), D("13.75")]

    def test_unknown_account_is_not_found(self, root):
        with pytest.raises(AccountNotFound):
            self.make(root).load("nobody")

    def test_missing_state_of_an_existing_account_is_an_error_naming_the_file(self, root):
        store = self.make(root)
        write_history(store)
        marker = store.folder("alice") / store.marker
        marker.unlink()
        with pytest.raises(StorageError, match=str(marker)) as raised:
            self.make(root).load("alice")
        assert raised.value.exit_code == 4

    def test_second_creation_of_a_name_is_refused_and_overwrites_nothing(self, root):
        first, second = self.make(root), self.make(root)
        write_history(first, deposits=2)
        rival = Account(name="alice")
        event = rival.decide_open("other", D("999.00"), D("0.00"))
        rival.apply(event)
        with pytest.raises(RuleViolation, match="already exists"):
            second.append(rival, event)
        assert self.make(root).load("alice").balance == D("12.50")

    def test_data_is_private_and_names_cannot_escape(self, root):
        root = root / "namespaces" / "6e73" / "accounts"  # every new level is private
        store = self.make(root)
        write_history(store, name="..")
        folder = store.folder("..")
        assert folder.parent == root and folder.name == "2e2e"
        for level in (root, root.parent, root.parent.parent):
            assert stat.S_IMODE(level.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / store.marker).stat().st_mode) == 0o600

    def test_a_flipped_byte_is_an_error_never_a_fresh_account(self, root):
        store = self.make(root)
        written = write_history(store, deposits=4)
        path = store.folder("alice") / store.marker
        data = bytearray(path.read_bytes())
        data[records_end(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(StorageError, match=str(path)):
            self.make(root).events("alice")  # what history and verify read
        try:  # recovery may not read that byte (a snapshot covers it), but never lies
            assert self.make(root).load("alice", repair=True).balance == written.balance
        except StorageError as error:
            assert str(path) in str(error)


class TestJournalStore(StoreContract):
    def build(self, root: Path) -> AccountStore:
        return JournalStore(root, snapshot_every=4)

    def journal(self, root: Path) -> Path:
        return self.make(root).folder("alice") / "journal.log"

    def test_a_torn_final_record_is_dropped_and_repaired(self, root):
        write_history(self.make(root), deposits=2)
        path = self.journal(root)
        whole = path.read_bytes()
        end = records_end(whole)
        torn = b'1234abcd {"seq": 4, "ty'  # a crash in the middle of an append
        path.write_bytes(whole[:end] + torn + whole[end + len(torn):])
        restarted = self.make(root)
        assert restarted.load("alice", repair=True).balance == D("12.50")
        assert path.read_bytes() == whole  # the writer cut the torn tail off
        account = restarted.load("alice", repair=True)
        event = account.decide_deposit("after-repair", D("1.00"))
        account.apply(event)
        restarted.append(account, event)
        assert self.make(root).load("alice").balance == D("13.50")

    def test_damage_in_the_last_complete_record_is_not_mistaken_for_a_torn_tail(self, root):
        write_history(self.make(root), deposits=2)
        path = self.journal(root)
        data = bytearray(path.read_bytes())
        data[records_end(data) - 5] ^= 0x01  # inside the final, newline-terminated record
        path.write_bytes(bytes(data))
        with pytest.raises(StorageError, match="checksum mismatch"):
            self.make(root).load("alice", repair=True)

    def test_recovery_uses_the_newest_snapshot_and_replays_what_follows(self, root):
        store = self.make(root)
        write_history(store, deposits=9)  # 10 events: snapshots at 4 and 8, then 2 more
        folder = store.folder("alice")
        assert sorted(p.name for p in folder.glob("snapshot-*")) == [
            "snapshot-00000000000000000004.json", "snapshot-00000000000000000008.json"]
        # Prove the snapshot is used: damage an event it covers; recovery never reads it.
        path = self.journal(root)
        lines = path.read_bytes().split(b"\n")
        lines[1] = lines[1].replace(b"deposit", b"dEposit")
        path.write_bytes(b"\n".join(lines))
        assert self.make(root).load("alice", repair=True).balance == D("21.25")
        with pytest.raises(StorageError):  # ...but the full history still checks it
            self.make(root).events("alice")

    def test_snapshots_thin_out_as_the_history_grows(self, root):
        # A snapshot holds every op id so far, so one every 4 events would make a long
        # history cost quadratic time. Spaced by a share of the history, they stay a
        # constant share of each event's cost, and recovery replays at most that share.
        store = self.make(root)
        account = write_history(store, deposits=399)  # 400 events
        older, newest = sorted(int(p.stem.split("-")[1])
                               for p in store.folder("alice").glob("snapshot-*"))
        assert newest - older >= older // SNAPSHOT_SPACING > 4
        assert 400 - newest <= 400 // SNAPSHOT_SPACING
        assert self.make(root).load("alice", repair=True).balance == account.balance

    def test_a_damaged_snapshot_falls_back_to_the_one_before(self, root):
        store = self.make(root)
        write_history(store, deposits=9)
        newest = sorted(store.folder("alice").glob("snapshot-*"))[-1]
        newest.write_bytes(newest.read_bytes().replace(b'"seq":8', b'"seq":9'))
        assert self.make(root).load("alice", repair=True).balance == D("21.25")

    def test_a_record_zeroed_in_the_middle_is_corruption_not_a_torn_tail(self, root):
        write_history(self.make(root), deposits=2)  # no snapshot: recovery reads it all
        path = self.journal(root)
        data = bytearray(path.read_bytes())
        data[30] = 0  # inside the first record; complete records follow it
        path.write_bytes(bytes(data))
        with pytest.raises(StorageError, match="corrupt"):
            self.make(root).load("alice", repair=True)

    def test_appends_land_in_preallocated_space(self, root):
        write_history(self.make(root), deposits=3)
        data = self.journal(root).read_bytes()
        assert len(data) > records_end(data)  # zeroed room for the next appends
        assert data[:records_end(data)].count(b"\n") == 4

    def test_a_journal_shorter_than_its_snapshot_says_is_corrupt(self, root):
        store = self.make(root)
        write_history(store, deposits=4)  # snapshot at 4 points past event 4
        path = self.journal(root)
        path.write_bytes(path.read_bytes()[:40])
        with pytest.raises(StorageError):
            self.make(root).load("alice")


class TestPickledStateStore(StoreContract):
    KEY = b"k" * 32

    def build(self, root: Path) -> AccountStore:
        return PickledStateStore(root, key=self.KEY)

    def test_state_signed_by_another_key_is_never_unpickled(self, root):
        write_history(self.make(root))
        with pytest.raises(StorageError, match="refusing to unpickle"):
            PickledStateStore(root, key=b"x" * 32).load("alice")  # holds nothing open
