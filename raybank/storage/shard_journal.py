"""One shard's journal: the events of many accounts in one file, for the hosted placement.

Per shard folder (``<namespace>/shards/<NNN>/``)::

    journal.log    framed records (framing.py), then zeroed space, as an account's journal:
                   {"account": name, "event": <event record>}         one event
                   {"account": name, "snapshot": <snapshot record>}   an account's whole state
    epoch          the number of the shard's current writer (replaced atomically)
    epoch.lock     taken shared by every write of that writer, exclusive by a takeover;
                   it also holds a copy of the epoch, which each write reads (one pread)

Disk grows with events, not with accounts: a new account is one record, not a folder with a
page of journal. Opening the shard scans it once and keeps, per account, where its newest
snapshot record and the events after it are; loading an account reads just those records,
so memory holds offsets, and the state of only the accounts in use.

**One writer, enforced by storage.** Opening a shard for writing takes it over: under the
exclusive lock the epoch goes up by one. Every write and every sync holds the shared lock and
first checks that the epoch is still its own; a writer whose shard was taken over (a stale
host, still running somewhere) gets ``StaleShard`` and never touches the file again. Because
a takeover waits for the shared lock, a write that passed the check ends before the new writer
reads the journal. The check reads the copy of the epoch in the lock file through the
descriptor it already holds: one ``pread`` per write, not an open and a read of ``epoch``.
``epoch`` stays the record a takeover counts from; a taker that dies between writing it and
the copy leaves the last writer still the only one, until the next takeover fences it.

**Group commit across accounts.** Threads write their records under the shard's mutex and
then wait for a sync that covers them: the first to wait syncs for everyone written before it
started (leader and followers), so many accounts' changes share one fdatasync.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from raybank.domain.account import Account, Event
from raybank.domain.errors import (
    AccountExists,
    AccountNotFound,
    StaleShard,
    StorageCorrupt,
    StorageError,
    StorageUnwritable,
)
from raybank.storage.base import AccountStore
from raybank.storage.codecs import (account_from_snapshot, event_from_record, event_record,
                                    snapshot_record)
from raybank.storage.files import PRIVATE_FILE, durable_dir, fsync_dir, read_bytes, write_all
from raybank.storage.framing import (check_not_truncated, frame, line_spans, payload_of,
                                     torn_tail, unframe)
from raybank.storage.journal import (DEFAULT_SNAPSHOT_EVERY, PAGE_BYTES, SNAPSHOT_SPACING,
                                     JournalWriter)

JOURNAL, EPOCH, EPOCH_LOCK = "journal.log", "epoch", "epoch.lock"
# How raybank writes a record's start (keys sorted, names as names.py allows): a scan reads
# the account and the kind from it without decoding the line.
_HEAD = re.compile(rb'\{"account":"([A-Za-z0-9_.-]{1,64})","(event|snapshot)":')
EPOCH_COPY_BYTES = 20  # the epoch's copy in the lock file: fixed width, written in place


@dataclass
class Entry:
    """Where one account's current state is in the shard journal."""

    snapshot: tuple[int, int] | None = None  # (start, end) of its newest snapshot record
    events: list[tuple[int, int]] = field(default_factory=list)  # those after it
    history: list[tuple[int, int]] = field(default_factory=list)  # every event of it
    seq: int = 0  # the seq of its last event
    since_snapshot: int = 0


class ShardStore(AccountStore):
    """The accounts of one shard. ``writer=True`` takes the shard over (the host that owns
    it); a reader (``history``, ``verify``) sees what is on disk and never writes."""

    kind = "shard"
    marker = JOURNAL

    def __init__(self, folder: Path, *, writer: bool = False,
                 snapshot_every: int = DEFAULT_SNAPSHOT_EVERY) -> None:
        super().__init__(folder)
        self.path = folder / JOURNAL
        self.snapshot_every = snapshot_every
        self._mutex = threading.Lock()  # the index, the writer's end, the epoch check
        self._synced = threading.Condition(threading.Lock())
        self._sync_end = 0  # every byte before it is durable
        self._syncing = False
        # Bumped by a failed write or sync, which erases every record not yet durable: a
        # record written in an older generation and not durable by then was lost.
        self._generation = 0
        self.syncs = 0  # fdatasyncs of this writer: how many changes shared each (benchmarks)
        self._index: dict[str, Entry] = {}
        self._writer: JournalWriter | None = None
        self.epoch = 0
        self._lock_fd: int | None = None
        self._read_fd: int | None = None
        if writer:
            self._ensure_journal()
            self._lock_fd = os.open(folder / EPOCH_LOCK, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
            self.epoch = self._take_over(self._lock_fd)
            self._writer = JournalWriter(self.path, exclusive=False)
        self._scan()

    # -- the epoch -------------------------------------------------------------------------
    def _read_epoch(self) -> int:
        path = self.root / EPOCH
        try:
            return int(read_bytes(path)) if path.exists() else 0
        except ValueError:
            raise StorageCorrupt(f"{path} is not an epoch number") from None

    def _epoch_copy(self, lock_fd: int) -> int | None:
        """The epoch as the lock file holds it (None if unreadable: never one's own)."""
        try:
            return int(os.pread(lock_fd, EPOCH_COPY_BYTES, 0))
        except ValueError:
            return None

    def _take_over(self, lock_fd: int) -> int:
        """Become the shard's writer: the next epoch, once no write of the last one runs."""
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        try:
            epoch = self._read_epoch() + 1
            temporary = self.root / f".{EPOCH}.{os.getpid()}"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
            try:
                write_all(fd, str(epoch).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temporary, self.root / EPOCH)
            fsync_dir(self.root)
            # No sync: the copy matters only to running processes (the page cache they share)
            os.pwrite(lock_fd, b"%0*d" % (EPOCH_COPY_BYTES, epoch), 0)
            return epoch
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)

    @contextmanager
    def _fenced(self) -> Iterator[JournalWriter]:
        """Hold the shared lock and check this writer still owns the shard."""
        if self._writer is None or self._lock_fd is None:
            raise StorageUnwritable(f"{self.root} is open for reading only")
        fcntl.flock(self._lock_fd, fcntl.LOCK_SH)
        try:
            current = self._epoch_copy(self._lock_fd)
            if current != self.epoch:
                error = StaleShard(f"shard {self.root} was taken over by writer {current} "
                                   f"(this is writer {self.epoch}): this host no longer "
                                   "owns it", not_applied=True)
                self._writer.broken = error  # never touch the file again, not even to erase
                raise error
            yield self._writer
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    # -- reading ---------------------------------------------------------------------------
    def _ensure_journal(self) -> None:
        durable_dir(self.root)
        if self.path.exists():
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        try:
            write_all(fd, bytes(PAGE_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(self.root)

    def _scan(self) -> None:
        """Index the journal: one pass, offsets only. Every line's checksum is checked; its
        JSON is decoded only when its account is loaded, whose replay checks again that
        each event follows the last (a line of another shape is decoded here). A torn tail
        is dropped (wiped by the writer); any other damage is an error that names the file
        and byte."""
        if not self.path.exists():
            return
        data = read_bytes(self.path)
        check_not_truncated(data, self.path)
        spans, position = line_spans(data)
        for start, newline in spans:
            payload = payload_of(data[start:newline], self.path, start)
            head = _HEAD.match(payload)
            if head is None:
                self._index_record(unframe(data[start:newline], self.path, start),
                                   start, newline + 1)
            else:
                self._index_span(head[1].decode(), head[2] == b"snapshot", None,
                                 start, newline + 1)
        if torn_tail(data, position, self.path) and self._writer is not None:
            # a write cut short by a crash: never acknowledged, so dropped
            self._writer.wipe(position, len(data[position:].rstrip(b"\0")))
        if self._writer is not None:
            self._writer.start_at(position)
        self._sync_end = position

    def _index_record(self, record: dict, start: int, end: int) -> None:
        name = record.get("account")
        if not isinstance(name, str):
            raise StorageCorrupt(f"{self.path} is corrupt at byte {start}: no account")
        snapshot = "snapshot" in record
        seq = None if snapshot else (record.get("event") or {}).get("seq")
        self._index_span(name, snapshot, seq, start, end)

    def _index_span(self, name: str, snapshot: bool, seq: int | None, start: int,
                    end: int) -> None:
        """Index one record of the account: its snapshot, or its next event (``seq``
        checked when known; a scan leaves it to the replay)."""
        entry = self._index.setdefault(name, Entry())
        if snapshot:
            entry.snapshot, entry.events, entry.since_snapshot = (start, end), [], 0
            return
        if seq is not None and seq != entry.seq + 1:
            raise StorageCorrupt(f"{self.path} is corrupt at byte {start}: event {seq!r} of "
                                 f"{name!r} does not follow {entry.seq}")
        entry.events.append((start, end))
        entry.history.append((start, end))
        entry.seq += 1
        entry.since_snapshot += 1

    def _records(self, spans: list[tuple[int, int]]) -> list[dict]:
        if self._lock_fd is None:  # a reader, often short-lived: it opens the file per read
            fd = os.open(self.path, os.O_RDONLY)
            try:
                return self._read(fd, spans)
            finally:
                os.close(fd)
        with self._mutex:  # the writer keeps one descriptor for every load it makes
            if self._read_fd is None:
                self._read_fd = os.open(self.path, os.O_RDONLY)
            fd = self._read_fd
        return self._read(fd, spans)

    def _read(self, fd: int, spans: list[tuple[int, int]]) -> list[dict]:
        return [unframe(os.pread(fd, end - start - 1, start), self.path, start)
                for start, end in spans]

    def names(self) -> list[str]:
        with self._mutex:
            return sorted(self._index)

    def exists(self, name: str) -> bool:
        with self._mutex:
            return name in self._index

    def owns(self, name: str) -> bool:
        return self.exists(name)

    def load(self, name: str, *, repair: bool = False) -> Account:
        self.check_usable(name)
        entry = self._entry(name)
        snapshot = [entry.snapshot] if entry.snapshot else []
        return self._recovered(name, self._records(snapshot + entry.events),
                               bool(entry.snapshot))

    def events(self, name: str) -> list[Event]:
        """Every event of the account, oldest first, each record read and checked again
        (the scan at open checked the whole journal and that each seq follows the last)."""
        self.check_usable(name)
        return self._history(name, self._records(self._entry(name).history))

    def each_account(self) -> Iterator[tuple[str, list[Event] | None, Account | None]]:
        """Every account of the shard, with its whole history and its state as recovered
        (as ``events`` and ``load`` give them), from one read of the file: what a check
        of every account reads. An account that cannot be read comes as (name, None, None)."""
        data = read_bytes(self.path)
        with self._mutex:
            names = sorted(self._index)

        def records(spans: list[tuple[int, int]]) -> list[dict]:
            return [unframe(data[start:end - 1], self.path, start) for start, end in spans]

        for name in names:
            entry = self._entry(name)
            try:
                history = self._history(name, records(entry.history))
                snapshot = [entry.snapshot] if entry.snapshot else []
                state = self._recovered(name, records(snapshot + entry.events),
                                        bool(entry.snapshot))
            except StorageError:
                yield name, None, None
                continue
            yield name, history, state

    def _entry(self, name: str) -> Entry:
        """A copy of the account's index entry (its spans), or AccountNotFound."""
        with self._mutex:
            entry = self._index.get(name)
            if entry is None:
                raise AccountNotFound(f"no account named {name!r}")
            return Entry(entry.snapshot, list(entry.events), list(entry.history), entry.seq)

    def _recovered(self, name: str, records: list[dict], from_snapshot: bool) -> Account:
        """The account from its newest snapshot record (if any) and the events after it."""
        account = Account(name=name)
        if from_snapshot:
            try:
                account = account_from_snapshot(records.pop(0)["snapshot"])
            except (KeyError, TypeError, ValueError) as error:
                raise StorageCorrupt(f"{self.path}: bad snapshot of {name!r}: {error}") from None
        self._replay(account, [record["event"] for record in records])
        return account

    def _history(self, name: str, records: list[dict]) -> list[Event]:
        """The events of these records, checked by replaying them from an empty account."""
        return self._replay(Account(name=name), [record["event"] for record in records])

    def _event(self, record: dict) -> Event:
        try:
            return event_from_record(record)
        except (TypeError, ValueError) as error:
            raise StorageCorrupt(f"{self.path} holds a malformed event: {error}") from error

    def _replay(self, account: Account, records: list[dict]) -> list[Event]:
        """Fold the event records into the account; returns the events (each decoded once)."""
        events = [self._event(record) for record in records]
        for event in events:
            try:
                account.apply(event)
            except StorageError as error:
                raise StorageCorrupt(f"{self.path}: {error}") from error
        return events

    # -- writing ---------------------------------------------------------------------------
    def _write_initial(self, folder: Path, account: Account, event: Event) -> None:
        raise NotImplementedError("a shard has no folder per account")  # append handles seq 1

    def create(self, account: Account, event: Event) -> None:
        self.append(account, event)

    def append(self, account: Account, event: Event, *, sync: bool = True) -> None:
        self.check_usable(account.name)
        with self._mutex:
            entry = self._index.get(account.name)
            if event.seq == 1 and entry is not None:
                raise AccountExists(f"account {account.name!r} already exists")
            if (entry.seq if entry else 0) != event.seq - 1:
                raise StorageUnwritable(f"event {event.seq} of {account.name!r} does not follow "
                                        "the stored history", not_applied=True)
            records = [{"account": account.name, "event": event_record(event)}]
            since = (entry.since_snapshot if entry else 0) + 1
            if since >= max(self.snapshot_every, event.seq // SNAPSHOT_SPACING):
                records.append({"account": account.name, "snapshot": snapshot_record(account)})
            end = self._write(records)
            generation = self._generation
        if sync:
            self._sync_through(end, generation)

    def _write(self, records: list[dict]) -> int:
        """Write records after the last (under the mutex); index them once written."""
        with self._fenced() as writer:
            start = writer.end or 0
            for record in records:
                try:
                    end = writer.append(frame(record), sync=False)
                except StorageError:
                    self._lost()
                    raise
                self._index_record(record, start, end)
                start = end
        return start

    def sync(self, name: str) -> None:
        self.sync_written()

    def sync_written(self) -> None:
        """Make every record written so far durable: one fdatasync for all its accounts."""
        with self._mutex:
            end = (self._writer.end or 0) if self._writer is not None else 0
            generation = self._generation
        self._sync_through(end, generation)

    def _sync_through(self, end: int, generation: int) -> None:
        """Return once every byte before ``end`` (written in ``generation``) is durable,
        syncing for the others waiting too; raise if a failure erased it meanwhile."""
        with self._synced:
            while self._sync_end < end or generation != self._generation:
                if generation != self._generation:
                    raise StorageUnwritable(f"a sync of {self.path} failed: this change was "
                                            "erased (not applied)", not_applied=True)
                if self._syncing:
                    self._synced.wait()
                    continue
                self._syncing = True
                self._synced.release()
                try:
                    with self._mutex:
                        with self._fenced() as writer:
                            target = writer.end or 0
                            self.syncs += 1
                            try:
                                writer.sync()
                            except StorageError:
                                self._lost()
                                raise
                finally:
                    self._synced.acquire()
                    self._syncing = False
                    self._synced.notify_all()
                self._sync_end = max(self._sync_end, target)

    def _lost(self) -> None:
        """After a failed write or sync (under the mutex): the writer erased every record
        not yet durable, so the index forgets them and their writers are told. If it could
        not erase them, it refuses the file until the host restarts."""
        self._generation += 1
        if self._writer is not None and self._writer.broken is None:
            self._index.clear()
            self._scan_in_place()

    def _scan_in_place(self) -> None:
        writer, self._writer = self._writer, None
        try:
            self._scan()
        finally:
            self._writer = writer
        if writer is not None:
            writer.start_at(self._sync_end)

    def close(self, name: str) -> None:
        """Nothing per account: the shard's file stays open for its other accounts."""

    def close_all(self) -> None:
        if self._read_fd is not None:
            os.close(self._read_fd)
            self._read_fd = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def delete(self, name: str) -> None:
        raise StorageUnwritable("an account of a shard cannot be deleted on its own")
