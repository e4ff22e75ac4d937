"""The storage contract, run against every backend; then each format's own damage cases.

No Ray: stores are driven the way the account actor drives them (decide, apply, append) and
"restarts" are new store objects reading the same folder, as a restarted actor would.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import stat
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal as D
from pathlib import Path

import pytest

from raybank.domain.account import Account, Event
from raybank.domain.errors import AccountNotFound, RuleViolation, StorageError
from raybank.storage import JournalStore, PickledStateStore
from raybank.storage.base import AccountStore
from raybank.storage.codecs import transfer_from_record
from raybank.storage.framing import frame, unframe
from raybank.storage.journal import SNAPSHOT_SPACING, JournalWriter
from raybank.storage.pickled import load_or_create_key
from raybank.storage.transfer_log import TransferLog
from raybank.domain.transfer import begin


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


def deposit(store: AccountStore, account: Account, op_id: str, amount: str = "1.00", *,
            sync: bool = True) -> Event:
    """One deposit, decided, applied and appended the way the account actor does it."""
    event = account.decide_deposit(op_id, D(amount))
    account.apply(event)
    store.append(account, event, sync=sync)
    return event


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Make the kernel cut any write past byte ``limit`` short and then fail it (EFBIG).

    A real short write and a real write error, as a full disk gives them, without mocking
    the OS: RLIMIT_FSIZE applies to every write of this process, root's included.
    """
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills us
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


@pytest.fixture
def failing_syncs(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``arm(n)``: the next n fdatasync calls fail with EIO (n < 0: all of them), as a dying
    disk makes them fail. The only way to get a failed sync without root and a broken device."""
    real = os.fdatasync
    left = [0]

    def fdatasync(fd: int) -> None:
        if left[0] != 0:
            left[0] -= 1
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)

    def arm(times: int) -> None:
        left[0] = times

    return arm


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

    def test_a_failed_folder_sync_after_create_is_never_reported_as_account_exists(
            self, root, monkeypatch):
        store = self.make(root)
        real = os.fsync

        def fsync(fd: int) -> None:
            if os.path.samefile(f"/proc/self/fd/{fd}", root):  # the rename's folder
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            real(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        account = Account(name="alice")
        event = account.decide_open("open", D("5.00"), D("0.00"))
        account.apply(event)
        with pytest.raises(StorageError) as failed:  # published, but maybe not durably
            store.append(account, event)
        assert failed.value.may_have_applied
        monkeypatch.undo()
        with pytest.raises(StorageError, match="restart"):  # this process trusts it no more
            store.load("alice")
        assert self.make(root).load("alice").balance == D("5.00")  # what a restart reads

    def test_new_data_folders_are_synced_into_their_parents(self, root, monkeypatch):
        synced: list[str] = []
        real = os.fsync

        def fsync(fd: int) -> None:
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
            real(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        nested = root / "namespaces" / "6e73" / "accounts"
        write_history(self.make(nested), deposits=0)
        for folder in (root, root / "namespaces", root / "namespaces" / "6e73", nested):
            assert str(folder.parent) in synced, folder  # else a crash may lose the folder


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

    # -- short writes, failed syncs, failed snapshots (issue 10, items 1, 4 and 5) ----------
    def reopened(self, root: Path) -> tuple[AccountStore, Account]:
        store = self.make(root)
        return store, store.load("alice", repair=True)

    def test_a_short_write_is_refused_as_not_applied_and_never_acknowledged(self, root):
        write_history(self.make(root), deposits=1)
        store, account = self.reopened(root)
        start = records_end(self.journal(root).read_bytes())
        event = account.decide_deposit("cut", D("1.00"))
        account.apply(event)
        with file_size_limit(start + 10), pytest.raises(StorageError) as failed:
            store.append(account, event)  # the kernel writes 10 bytes, then refuses
        assert failed.value.not_applied and str(self.journal(root)) in str(failed.value)
        reloaded = self.make(root).load("alice")
        assert reloaded.seq == 2 and "cut" not in reloaded.applied
        store.close_all()
        store, account = self.reopened(root)
        deposit(store, account, "cut")  # the retry applies once
        assert self.make(root).load("alice").balance == D("12.25")

    def test_no_room_to_grow_in_a_group_erases_the_whole_group(self, root):
        write_history(self.make(root), deposits=0)
        store, account = self.reopened(root)
        size = self.journal(root).stat().st_size
        with file_size_limit(size), pytest.raises(StorageError) as failed:
            for i in range(size // 100):  # more records than the journal has room for
                deposit(store, account, f"g{i}", sync=False)
            store.sync("alice")
        assert failed.value.not_applied
        assert records_end(self.journal(root).read_bytes()) < 300  # only the first record
        assert self.make(root).load("alice").seq == 1

    def test_a_failed_sync_erases_the_record_and_reports_it_not_applied(
            self, root, failing_syncs):
        write_history(self.make(root), deposits=1)
        store, account = self.reopened(root)
        before = self.journal(root).read_bytes()
        failing_syncs(1)
        with pytest.raises(StorageError) as failed:
            deposit(store, account, "lost")
        assert failed.value.not_applied
        assert self.journal(root).read_bytes() == before  # not even in the page cache
        account = store.load("alice", repair=True)  # the store still works
        assert account.seq == 2 and "lost" not in account.applied
        deposit(store, account, "lost")
        assert self.make(root).load("alice").balance == D("12.25")

    def test_a_failed_group_sync_erases_every_unsynced_record(self, root, failing_syncs):
        write_history(self.make(root), deposits=1)
        store, account = self.reopened(root)
        before = self.journal(root).read_bytes()
        deposit(store, account, "g1", sync=False)
        deposit(store, account, "g2", sync=False)
        failing_syncs(1)
        with pytest.raises(StorageError) as failed:
            store.sync("alice")
        assert failed.value.not_applied
        assert self.journal(root).read_bytes() == before
        assert self.make(root).load("alice").seq == 2

    def test_when_the_erase_fails_too_the_account_is_refused_until_a_restart(
            self, root, failing_syncs):
        write_history(self.make(root), deposits=1)
        store, account = self.reopened(root)
        failing_syncs(-1)
        with pytest.raises(StorageError) as failed:
            deposit(store, account, "unsure")
        assert failed.value.may_have_applied
        failing_syncs(0)  # the disk recovers, but the page cache may lie about the file
        for use in (lambda: store.load("alice", repair=True), lambda: store.load("alice"),
                    lambda: store.events("alice"),
                    lambda: deposit(store, store.load("alice"), "next")):
            with pytest.raises(StorageError, match="restart"):
                use()
        assert self.make(root).load("alice").seq in (2, 3)  # a new process starts afresh

    def test_a_failed_snapshot_never_fails_the_durable_change_and_backs_off(
            self, root, caplog):
        write_history(self.make(root), deposits=0)
        folder = self.make(root).folder("alice")
        (folder / "snapshot-00000000000000000004.json").mkdir()  # the rename onto it fails
        store, account = self.reopened(root)
        for i in range(7):  # events 2-8: the snapshot at 4 fails, the one at 8 is written
            deposit(store, account, f"d{i}")
        assert "snapshot" in caplog.text
        assert [p.name for p in folder.glob("snapshot-*") if p.is_file()] == [
            "snapshot-00000000000000000008.json"]  # none at 5, 6 or 7: it waited its turn
        assert self.make(root).load("alice").balance == D("17.00")

    # -- truncation and snapshots checked against the journal (items 4 and 5) --------------
    def cut_after_record(self, root: Path, records: int, padding: int = 0) -> None:
        path = self.journal(root)
        data = path.read_bytes()
        end = 0
        for _ in range(records):
            end = data.index(b"\n", end) + 1
        path.write_bytes(data[:end] + bytes(padding))

    def test_a_new_journal_ends_in_zeroed_space(self, root):
        write_history(self.make(root), deposits=0)
        data = self.journal(root).read_bytes()
        assert data.count(b"\n") == 1 and data.endswith(b"\0")

    def test_a_journal_cut_at_a_record_boundary_is_truncated_not_rolled_back(self, root):
        write_history(self.make(root), deposits=9)  # snapshots at 4 and 8
        self.cut_after_record(root, 6)
        for read in (lambda: self.make(root).load("alice", repair=True),
                     lambda: self.make(root).events("alice")):
            with pytest.raises(StorageError, match="truncated") as raised:
                read()
            assert str(self.journal(root)) in str(raised.value)

    def test_a_snapshot_past_the_journal_end_is_corrupt_never_skipped(self, root):
        write_history(self.make(root), deposits=9)
        self.cut_after_record(root, 6, padding=4)  # looks whole, but snapshot 8 is past it
        with pytest.raises(StorageError, match="snapshot-00000000000000000008") as raised:
            self.make(root).load("alice", repair=True)
        assert raised.value.code == "storage-corrupt"

    def test_a_snapshot_naming_another_record_is_corrupt(self, root):
        store = self.make(root)
        write_history(store, deposits=9)
        newest = sorted(store.folder("alice").glob("snapshot-*"))[-1]
        record = unframe(newest.read_bytes().rstrip(b"\n"), newest, 0)
        record["crc"] ^= 1  # a well-formed snapshot of some other history
        newest.write_bytes(frame(record))
        with pytest.raises(StorageError, match="does not match") as raised:
            self.make(root).load("alice", repair=True)
        assert raised.value.code == "storage-corrupt"

    def test_a_snapshot_of_the_first_format_is_still_used(self, root):
        store = self.make(root)
        write_history(store, deposits=9)
        newest = sorted(store.folder("alice").glob("snapshot-*"))[-1]
        record = unframe(newest.read_bytes().rstrip(b"\n"), newest, 0)
        newest.write_bytes(frame({"format": 1, "offset": record["offset"],
                                  "account": record["account"]}))
        path = self.journal(root)  # damage an event it covers: recovery must not read it
        lines = path.read_bytes().split(b"\n")
        lines[1] = lines[1].replace(b"deposit", b"dEposit")
        path.write_bytes(b"\n".join(lines))
        assert self.make(root).load("alice", repair=True).balance == D("21.25")

    def test_a_one_record_journal_of_an_older_raybank_reads_as_truncated(self, root):
        write_history(self.make(root), deposits=0)
        self.cut_after_record(root, 1)  # what older versions wrote at create
        with pytest.raises(StorageError, match="append one zero byte"):
            self.make(root).load("alice", repair=True)
        with open(self.journal(root), "ab") as journal:
            journal.write(b"\0")  # the documented fix
        store, account = self.reopened(root)
        deposit(store, account, "after-fix")
        assert self.make(root).load("alice").balance == D("11.00")

    @pytest.mark.parametrize("newline_becomes", [b"\0", b"x"])
    def test_a_complete_last_record_without_its_newline_is_damage_not_a_torn_tail(
            self, root, newline_becomes):
        write_history(self.make(root), deposits=2)
        path = self.journal(root)
        data = bytearray(path.read_bytes())
        data[records_end(data) - 1:records_end(data)] = newline_becomes
        path.write_bytes(bytes(data))
        with pytest.raises(StorageError, match="corrupt"):
            self.make(root).load("alice", repair=True)

    def test_a_record_that_would_reach_the_end_grows_the_journal_first(self, tmp_path):
        path = tmp_path / "journal.log"
        record = frame({"seq": 1})
        path.write_bytes(bytes(4096))
        writer = JournalWriter(path)
        try:
            writer.start_at(4096 - len(record))  # the record would fill the file exactly
            writer.append(record)
        finally:
            writer.close()
        data = path.read_bytes()
        assert data.endswith(b"\0") and data[4096 - len(record):4096] == record


class TestPickledStateStore(StoreContract):
    KEY = b"k" * 32

    def build(self, root: Path) -> AccountStore:
        return PickledStateStore(root, key=self.KEY)

    def test_state_signed_by_another_key_is_never_unpickled(self, root):
        write_history(self.make(root))
        with pytest.raises(StorageError, match="refusing to unpickle"):
            PickledStateStore(root, key=b"x" * 32).load("alice")  # holds nothing open

    def test_a_short_write_keeps_the_whole_old_state(self, root):
        write_history(self.make(root), deposits=2)
        store = self.make(root)
        account = store.load("alice")
        path = store.folder("alice") / store.marker
        before = path.read_bytes()
        event = account.decide_deposit("cut", D("1.00"))
        account.apply(event)
        with file_size_limit(len(before) // 2), pytest.raises(StorageError) as failed:
            store.append(account, event)
        assert failed.value.not_applied
        assert path.read_bytes() == before
        assert sorted(p.name for p in path.parent.iterdir()) == [store.marker]  # no temp left


def test_the_signing_key_is_created_once_even_by_parallel_first_uses(tmp_path: Path):
    for attempt in range(30):
        path = tmp_path / str(attempt) / "secret.key"
        path.parent.mkdir()
        start = threading.Barrier(6)
        keys: list[bytes] = []

        def first_use() -> None:
            start.wait()
            keys.append(load_or_create_key(path))

        threads = [threading.Thread(target=first_use) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert set(keys) == {path.read_bytes()}  # everyone signs with the key on disk
        assert [p.name for p in path.parent.iterdir()] == ["secret.key"]


# -- strict parsing of stored records (item 11) ----------------------------------------------
def framed_payload(payload: bytes) -> bytes:
    return b"%08x " % zlib.crc32(payload) + payload


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_json_constants_are_refused_even_behind_a_good_checksum(constant, tmp_path):
    with pytest.raises(StorageError, match="corrupt"):
        unframe(framed_payload(b'{"amount":' + constant + b'}'), tmp_path / "j", 0)


@pytest.mark.parametrize("amount", ["1e3", "NaN", "Infinity", "-5.00", "0.00", "5", 5, 5.0,
                                    None, True])
def test_transfer_records_with_odd_amounts_are_refused(amount):
    good = {"transfer_id": "t1", "source": "a", "target": "b", "amount": "5.00",
            "state": "begun", "request": "r", "error": None, "source_after": None,
            "target_after": None}
    assert transfer_from_record(good).amount == D("5.00")
    with pytest.raises(ValueError):
        transfer_from_record({**good, "amount": amount})


def test_a_transfer_log_cut_inside_its_records_is_truncated_not_shortened(tmp_path: Path):
    log = TransferLog(tmp_path, "ns")
    assert log.open() == {}
    assert log.path.read_bytes().endswith(b"\0")  # born as zeroed space, never empty
    first = begin("t1", "a", "b", D("5.00"), "r1")
    log.append(first)
    log.append(first.held())
    log.close()
    data = log.path.read_bytes()
    log.path.write_bytes(data[:data.index(b"\n") + 1])  # the second record is lost
    with pytest.raises(StorageError, match="truncated"):
        TransferLog(tmp_path, "ns").open()
