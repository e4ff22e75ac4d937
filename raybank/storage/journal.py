"""The event journal: append-only, checksummed, fsync'd, with periodic snapshots.

Per account folder::

    journal.log                      every event, one framed record a line
    snapshot-<seq>.json              the state after event <seq>, and the journal offset
                                     just past it (the two newest are kept)

Recovery loads the newest good snapshot and replays only the journal after its offset: at
most ``snapshot_every`` events, or an eighth of the history once that is longer (see
SNAPSHOT_SPACING). A snapshot that fails its checksum is passed over for the one before it
(or a full replay); the journal itself is the source of truth, and damage to it is an error
that names the file.

The journal grows in zero-filled steps and records are written into that space, so syncing
an append changes no file metadata: ``fdatasync`` then flushes one data page instead of a
filesystem-journal commit, several times faster on ext4 (see docs/storage.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from raybank.domain.account import Account, Event, from_snapshot, to_snapshot
from raybank.domain.errors import StorageError
from raybank.storage.base import AccountStore
from raybank.storage.files import PRIVATE_FILE, lock_exclusively, read_bytes, write_atomically
from raybank.storage.framing import frame, read_records, unframe

DEFAULT_SNAPSHOT_EVERY = 100
# A snapshot holds every op id the account has applied, so writing one costs as much as the
# whole history. Spacing snapshots by at least an eighth of the history keeps that cost a
# constant share of each event's (never quadratic), and recovery still replays at most an
# eighth of the history. docs/storage.md has the measurements behind the eighth.
SNAPSHOT_SPACING = 8
SNAPSHOTS_KEPT = 2
GROWTH_BYTES = 1 << 20


class JournalWriter:
    """The one appender of a journal: holds its lock, writes at its end, into zeroed space."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDWR)
        except OSError as error:
            raise StorageError(f"cannot open {path}: {error.strerror}",
                               "storage-unwritable") from error
        lock_exclusively(self.fd, path)
        self.size = os.fstat(self.fd).st_size
        self.end: int | None = None  # where records stop; known once the journal was read

    def append(self, record: bytes, *, sync: bool = True) -> int:
        """Write one record (durably unless ``sync`` is False); returns the offset past it."""
        assert self.end is not None, "the journal must be read before it is appended to"
        if self.end + len(record) > self.size:
            self._grow(len(record))
        os.pwrite(self.fd, record, self.end)
        if sync:
            os.fdatasync(self.fd)
        self.end += len(record)
        return self.end

    def sync(self) -> None:
        """Make every record written so far durable (group commit)."""
        os.fdatasync(self.fd)

    def _grow(self, at_least: int) -> None:
        growth = max(GROWTH_BYTES, at_least)
        os.pwrite(self.fd, bytes(growth), self.size)  # real zeros: later syncs change no size
        os.fsync(self.fd)
        self.size += growth

    def wipe(self, start: int, length: int) -> None:
        """Zero a torn tail so the next append starts on clean space."""
        os.pwrite(self.fd, bytes(length), start)
        os.fdatasync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


class JournalStore(AccountStore):
    kind = "journal"
    marker = "journal.log"

    def __init__(self, root: Path, snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
                 snapshot_spacing: int = SNAPSHOT_SPACING) -> None:
        super().__init__(root)
        self.snapshot_every = snapshot_every
        self.snapshot_spacing = snapshot_spacing
        self._writers: dict[str, JournalWriter] = {}
        self._snapshot_seq: dict[str, int] = {}  # the newest snapshot's seq, per account

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
        if writer.end is None:
            self.load(account.name, repair=True)  # finds where the records end
        since = event.seq - self._snapshot_seq.get(account.name, 0)
        snapshot_due = since >= max(self.snapshot_every, event.seq // self.snapshot_spacing)
        try:
            # A snapshot never points past the durable journal, so it forces a sync.
            end = writer.append(frame(event.to_record()), sync=sync or snapshot_due)
        except OSError as error:
            self.close(account.name)
            raise StorageError(f"cannot append to {writer.path}: {error.strerror}",
                               "storage-unwritable") from error
        if snapshot_due:
            self._snapshot(account, end)

    def sync(self, name: str) -> None:
        writer = self._writers.get(name)
        if writer is None:
            return
        try:
            writer.sync()
        except OSError as error:
            self.close(name)
            raise StorageError(f"cannot sync {writer.path}: {error.strerror}",
                               "storage-unwritable") from error

    def _writer(self, name: str) -> JournalWriter:
        """The account's journal writer, locked against any second writer."""
        writer = self._writers.get(name)
        if writer is None:
            writer = self._writers[name] = JournalWriter(self.folder(name) / self.marker)
        return writer

    def close(self, name: str) -> None:
        writer = self._writers.pop(name, None)
        if writer is not None:
            writer.close()

    def close_all(self) -> None:
        for name in list(self._writers):
            self.close(name)

    def _snapshot(self, account: Account, offset: int) -> None:
        folder = self.folder(account.name)
        data = frame({"format": 1, "offset": offset, "account": to_snapshot(account)})
        write_atomically(folder / f"snapshot-{account.seq:020d}.json", data)
        self._snapshot_seq[account.name] = account.seq
        for old in _snapshots(folder)[SNAPSHOTS_KEPT:]:
            old.unlink(missing_ok=True)

    # -- reading ---------------------------------------------------------------------------
    def load(self, name: str, *, repair: bool = False) -> Account:
        path = self.folder(name) / self.marker
        if not path.is_file():
            raise self.missing(name)
        # The writer takes the lock before reading, so no one appends meanwhile.
        writer = self._writer(name) if repair else None
        data = read_bytes(path)
        account, offset = self._newest_snapshot(name, len(data))
        self._snapshot_seq[name] = account.seq
        records, end, torn = read_records(data, path, offset)
        _replay(account, records, path)
        if account.seq == 0:
            raise StorageError(f"{path} holds no events", "storage-corrupt")
        if writer is not None:
            if torn:
                writer.wipe(end, len(data[end:].rstrip(b"\0")))
            writer.end = end
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
