"""The event journal: append-only, checksummed, fsync'd, with periodic snapshots.

Per account folder::

    journal.log                      every event, one framed record a line
    snapshot-<seq>.json              the state after event <seq>, and the journal offset
                                     just past it (the two newest are kept)

Recovery loads the newest good snapshot and replays only the journal after its offset, so
it costs at most ``snapshot_every`` events however long the history. A snapshot that fails
its checksum is passed over for the one before it (or a full replay); the journal itself is
the source of truth, and damage to it is an error that names the file.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import BinaryIO

from raybank.account import Account, Event, from_snapshot, to_snapshot
from raybank.errors import StorageError
from raybank.storage.base import AccountStore
from raybank.storage.files import PRIVATE_FILE, read_bytes, write_atomically
from raybank.storage.framing import frame, read_records, unframe

DEFAULT_SNAPSHOT_EVERY = 100
SNAPSHOTS_KEPT = 2
LOCK_WAIT_S = 10.0


class JournalStore(AccountStore):
    kind = "journal"
    marker = "journal.log"

    def __init__(self, root: Path, snapshot_every: int = DEFAULT_SNAPSHOT_EVERY) -> None:
        super().__init__(root)
        self.snapshot_every = snapshot_every
        self._writers: dict[str, BinaryIO] = {}

    # -- writing ---------------------------------------------------------------------------
    def _write_initial(self, folder: Path, account: Account, event: Event) -> None:
        fd = os.open(folder / self.marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        try:
            os.write(fd, frame(event.to_record()))
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, account: Account, event: Event, *, sync: bool = True) -> None:
        if event.seq == 1:
            self.create(account, event)
            return
        writer = self._writer(account.name)
        snapshot_due = event.seq % self.snapshot_every == 0
        try:
            writer.write(frame(event.to_record()))
            writer.flush()
            if sync or snapshot_due:  # a snapshot never points past the durable journal
                os.fsync(writer.fileno())
        except OSError as error:
            self.close(account.name)
            raise StorageError(f"cannot append to {writer.name}: {error.strerror}",
                               "storage-unwritable") from error
        if snapshot_due:
            self._snapshot(account, writer.tell())

    def sync(self, name: str) -> None:
        writer = self._writers.get(name)
        if writer is None:
            return
        try:
            os.fsync(writer.fileno())
        except OSError as error:
            self.close(name)
            raise StorageError(f"cannot sync {writer.name}: {error.strerror}",
                               "storage-unwritable") from error

    def _writer(self, name: str) -> BinaryIO:
        """The account's journal open for appending, locked against any second writer."""
        writer = self._writers.get(name)
        if writer is None:
            path = self.folder(name) / self.marker
            try:
                writer = open(path, "ab")  # noqa: SIM115 - held open while the account is live
            except OSError as error:
                raise StorageError(f"cannot open {path}: {error.strerror}",
                                   "storage-unwritable") from error
            _lock_exclusively(writer)
            self._writers[name] = writer
        return writer

    def close(self, name: str) -> None:
        writer = self._writers.pop(name, None)
        if writer is not None:
            writer.close()

    def _snapshot(self, account: Account, offset: int) -> None:
        folder = self.folder(account.name)
        data = frame({"format": 1, "offset": offset, "account": to_snapshot(account)})
        write_atomically(folder / f"snapshot-{account.seq:020d}.json", data)
        for old in _snapshots(folder)[SNAPSHOTS_KEPT:]:
            old.unlink(missing_ok=True)

    # -- reading ---------------------------------------------------------------------------
    def load(self, name: str, *, repair: bool = False) -> Account:
        path = self.folder(name) / self.marker
        if not path.is_file():
            raise self.missing(name)
        if repair:
            self._writer(name)  # take the lock before reading, so no one appends meanwhile
        data = read_bytes(path)
        account, offset = self._newest_snapshot(name, len(data))
        records, end, torn = read_records(data, path, offset)
        _replay(account, records, path)
        if account.seq == 0:
            raise StorageError(f"{path} holds no events", "storage-corrupt")
        if torn and repair:
            self._drop_torn_tail(name, path, end)
        return account

    def events(self, name: str) -> list[Event]:
        path = self.folder(name) / self.marker
        if not path.is_file():
            raise self.missing(name)
        records, _, _ = read_records(read_bytes(path), path)
        events = [_event(record, path) for record in records]
        _replay(Account(name=name), records, path)  # checks the sequence is unbroken
        return events

    def _newest_snapshot(self, name: str, journal_size: int) -> tuple[Account, int]:
        for path in _snapshots(self.folder(name)):
            try:
                record = unframe(read_bytes(path).rstrip(b"\n"), path, 0)
                account = from_snapshot(record["account"])
                offset = int(record["offset"])
            except (StorageError, KeyError, TypeError, ValueError):
                continue  # a damaged snapshot is only an optimisation lost: use an older one
            if account.name == name and 0 < offset <= journal_size:
                return account, offset
        return Account(name=name), 0

    def _drop_torn_tail(self, name: str, path: Path, end: int) -> None:
        writer = self._writer(name)
        try:
            os.truncate(writer.fileno(), end)
            os.fsync(writer.fileno())
        except OSError as error:
            raise StorageError(f"cannot repair the torn tail of {path}: {error.strerror}",
                               "storage-unwritable") from error


def _snapshots(folder: Path) -> list[Path]:
    """Snapshot files, newest first."""
    return sorted(folder.glob("snapshot-*.json"), reverse=True)


def _event(record: dict, path: Path) -> Event:
    try:
        return Event.from_record(record)
    except ValueError as error:
        raise StorageError(f"{path} holds a malformed event: {error}",
                           "storage-corrupt") from error


def _replay(account: Account, records: list[dict], path: Path) -> None:
    for record in records:
        try:
            account.apply(_event(record, path))
        except StorageError as error:
            raise StorageError(f"{path}: {error}", "storage-corrupt") from error


def _lock_exclusively(handle: BinaryIO) -> None:
    """One writer per journal: wait briefly for a dying predecessor to let go."""
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise StorageError(f"{handle.name} is locked by another live process",
                                   "storage-locked") from None
            time.sleep(0.05)

