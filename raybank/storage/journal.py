"""The event journal: append-only, checksummed, synced, with periodic snapshots.

Per account folder::

    journal.log                      every event, one framed record a line, then zeroed space
    snapshot-<seq>.json              the state after event <seq>, the journal offset just
                                     past it and that record's checksum (the two newest kept)

Recovery loads the newest good snapshot and replays only the journal after its offset: at
most ``snapshot_every`` events, or an eighth of the history once that is longer (see
SNAPSHOT_SPACING). A snapshot that fails its own checksum is passed over for the one before
it (or a full replay); but a good snapshot must name the very record its offset ends (seq
and checksum), or the journal lost or changed history: that is corruption, never a quiet
replay of less. The journal itself is the source of truth, and damage to it is an error
that names the file.

The journal grows in zero-filled steps and records are written into that space, so syncing
an append changes no file metadata: ``fdatasync`` then flushes one data page instead of a
filesystem-journal commit, several times faster on ext4 (see docs/storage.md). The space
also marks the end: a journal always ends in at least one zero byte, so a cut inside its
records is detected.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import NoReturn

from raybank.domain.account import Account, Event
from raybank.domain.errors import StorageCorrupt, StorageError, StorageUnwritable
from raybank.storage.base import AccountStore
from raybank.storage.codecs import (account_from_snapshot, event_from_record, event_record,
                                    snapshot_record)
from raybank.storage.files import (PRIVATE_FILE, lock_exclusively, read_bytes, write_all,
                                   write_atomically)
from raybank.storage.framing import (check_not_truncated, checksum, frame, read_records,
                                     record_ending_at, unframe)

log = logging.getLogger(__name__)

DEFAULT_SNAPSHOT_EVERY = 100
# A snapshot holds every op id the account has applied, so writing one costs as much as the
# whole history. Spacing snapshots by at least an eighth of the history keeps that cost a
# constant share of each event's (never quadratic), and recovery still replays at most an
# eighth of the history. docs/storage.md has the measurements behind the eighth.
SNAPSHOT_SPACING = 8
SNAPSHOTS_KEPT = 2
SNAPSHOT_FORMAT = 2  # 1 had no seq or checksum of the record at its offset; still read
PAGE_BYTES = 4096  # a new journal: its first record and zeros up to a whole page
GROWTH_BYTES = 1 << 20  # then it grows by whole steps of this many zeros


class JournalWriter:
    """The one appender of a journal: holds its lock, writes at its end, into zeroed space.

    An append is acknowledged only once synced. When a write or a sync fails, the writer
    erases every byte written since the last acknowledged sync and syncs that: the change
    is then known not to have happened (``not_applied``). If even that fails, the page
    cache may show records the disk does not hold, so the writer is ``broken``: it refuses
    all further use, and the file must be read afresh by a restarted process.
    """

    def __init__(self, path: Path, *, exclusive: bool = True) -> None:
        """``exclusive``: hold the file's writer lock; a shard journal is fenced by its
        epoch instead (shard_journal.py), which a lock held by a stale writer would block."""
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDWR)
        except OSError as error:
            raise StorageUnwritable(f"cannot open {path}: {error.strerror}") from error
        if exclusive:
            lock_exclusively(self.fd, path)
        self.size = os.fstat(self.fd).st_size
        self.end: int | None = None  # where records stop; known once the journal was read
        self._acked = 0  # everything before this offset is durable and may be acknowledged
        self._dirty_to = 0  # from _acked up to here, bytes may have been written since
        self.broken: StorageError | None = None

    def start_at(self, end: int) -> None:
        """Append from ``end``, where reading found the (durable) records to stop."""
        self.end = self._acked = self._dirty_to = end

    def append(self, record: bytes, *, sync: bool = True) -> int:
        """Write one record (durably unless ``sync`` is False); returns the offset past it."""
        start = self._usable()
        try:
            if start + len(record) >= self.size:  # keep at least one zero byte at the end
                self._grow(start + len(record) + 1 - self.size)
            self._dirty_to = max(self._dirty_to, start + len(record))
            write_all(self.fd, record, start)
            self.end = start + len(record)
            if sync:
                os.fdatasync(self.fd)
                self._acked = self._dirty_to = self.end
        except OSError as error:
            self._undo(f"cannot append to {self.path}", error)
        return self.end

    def sync(self) -> None:
        """Make every record written so far durable (group commit)."""
        end = self._usable()
        if end == self._acked:
            return
        try:
            os.fdatasync(self.fd)
        except OSError as error:
            self._undo(f"cannot sync {self.path}", error)
        self._acked = self._dirty_to = end

    def _grow(self, at_least: int) -> None:
        steps = -(-at_least // GROWTH_BYTES)
        write_all(self.fd, bytes(steps * GROWTH_BYTES), self.size)  # real zeros: later
        os.fsync(self.fd)  # syncs change no size
        self.size += steps * GROWTH_BYTES

    def _undo(self, failure: str, error: OSError) -> NoReturn:
        """Erase what was written since the last acknowledged sync, then raise."""
        try:
            self._erase(self._acked, self._dirty_to)
        except OSError as second:
            self.broken = StorageUnwritable(
                f"{failure}: {error.strerror}, and erasing the unacknowledged records failed "
                f"too ({second.strerror}): the change may have been applied, and this "
                "process does not use the file again until it restarts")
            raise self.broken from error
        self.end = self._dirty_to = self._acked
        raise StorageUnwritable(
            f"{failure}: {error.strerror}; the change was erased (not applied)",
            not_applied=True) from error

    def _erase(self, start: int, stop: int) -> None:
        """Zero whatever [start, stop) holds (space past the records is zeros) and sync."""
        written = os.pread(self.fd, stop - start, start) if stop > start else b""
        length = len(written.rstrip(b"\0"))
        if length:
            write_all(self.fd, bytes(length), start)
        os.fdatasync(self.fd)

    def wipe(self, start: int, length: int) -> None:
        """Zero a torn tail so the next append starts on clean space."""
        self._usable(reading=True)
        try:
            write_all(self.fd, bytes(length), start)
            os.fdatasync(self.fd)
        except OSError as error:
            self.broken = StorageUnwritable(
                f"cannot repair the torn tail of {self.path}: {error.strerror}; this process "
                "does not use the file again until it restarts")
            raise self.broken from error

    def _usable(self, *, reading: bool = False) -> int:
        if self.broken is not None:
            raise StorageUnwritable(self.broken.message)
        if self.end is None and not reading:
            raise StorageUnwritable(f"{self.path} must be read before it is appended to")
        return self.end or 0

    def close(self) -> None:
        """Let go of the file; records never acknowledged are erased first (best effort)."""
        try:
            if self.broken is None and self.end is not None and self._dirty_to > self._acked:
                self._erase(self._acked, self._dirty_to)
        except OSError:
            pass  # they were never acknowledged, and whoever wrote them was told so
        finally:
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
        self._pending: dict[str, tuple[int, bytes]] = {}  # a snapshot awaiting its group's sync

    # -- writing ---------------------------------------------------------------------------
    def _write_initial(self, folder: Path, account: Account, event: Event) -> None:
        record = frame(event_record(event))
        size = -(-(len(record) + 1) // PAGE_BYTES) * PAGE_BYTES
        fd = os.open(folder / self.marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        try:
            write_all(fd, record + bytes(size - len(record)))
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, account: Account, event: Event, *, sync: bool = True) -> None:
        if event.seq == 1:
            self.create(account, event)
            return
        self.check_usable(account.name)
        writer = self._writer(account.name)
        if writer.end is None:
            self.load(account.name, repair=True)  # finds where the records end
        record = frame(event_record(event))
        try:
            end = writer.append(record, sync=sync)
        except StorageError:
            self._failed(account.name, writer)
            raise
        since = event.seq - self._snapshot_seq.get(account.name, 0)
        if since >= max(self.snapshot_every, event.seq // self.snapshot_spacing):
            # Even if writing it fails, the next try waits for the usual spacing.
            self._snapshot_seq[account.name] = account.seq
            snapshot = frame({"format": SNAPSHOT_FORMAT, "offset": end, "seq": event.seq,
                              "crc": checksum(record), "account": snapshot_record(account)})
            if sync:
                self._write_snapshot(account.name, account.seq, snapshot)
            else:  # a snapshot never points past what is durable: it waits for the sync
                self._pending[account.name] = (account.seq, snapshot)

    def sync(self, name: str) -> None:
        writer = self._writers.get(name)
        if writer is None:
            return
        try:
            writer.sync()
        except StorageError:
            self._failed(name, writer)
            raise
        pending = self._pending.pop(name, None)
        if pending is not None:
            self._write_snapshot(name, *pending)

    def _failed(self, name: str, writer: JournalWriter) -> None:
        """After a failure: distrust the account if the writer could not undo a write."""
        if writer.broken is not None:
            self.refuse_until_restart(name, writer.broken)
        self.close(name)

    def _writer(self, name: str) -> JournalWriter:
        """The account's journal writer, locked against any second writer."""
        writer = self._writers.get(name)
        if writer is None:
            writer = self._writers[name] = JournalWriter(self.folder(name) / self.marker)
        return writer

    def close(self, name: str) -> None:
        self._pending.pop(name, None)
        writer = self._writers.pop(name, None)
        if writer is not None:
            writer.close()

    def close_all(self) -> None:
        for name in list(self._writers):
            self.close(name)

    def _write_snapshot(self, name: str, seq: int, data: bytes) -> None:
        """Write a snapshot; its failure costs only recovery time, so it is logged, never
        raised: the change it follows is already durable and acknowledged."""
        folder = self.folder(name)
        try:
            write_atomically(folder / f"snapshot-{seq:020d}.json", data)
            for old in _snapshots(folder)[SNAPSHOTS_KEPT:]:
                old.unlink(missing_ok=True)
        except (StorageError, OSError) as error:
            log.warning("snapshot %d of account %r not written (recovery replays more "
                        "until the next one): %s", seq, name, error)

    # -- reading ---------------------------------------------------------------------------
    def load(self, name: str, *, repair: bool = False) -> Account:
        self.check_usable(name)
        path = self.folder(name) / self.marker
        if not path.is_file():
            raise self.missing(name)
        # The writer takes the lock before reading, so no one appends meanwhile.
        writer = self._writer(name) if repair else None
        try:
            return self._read(name, path, writer)
        except BaseException:
            if writer is not None:
                self._failed(name, writer)  # hold no lock on a journal that cannot be used
            raise

    def _read(self, name: str, path: Path, writer: JournalWriter | None) -> Account:
        data = read_bytes(path)
        check_not_truncated(data, path)
        account, offset = self._newest_snapshot(name, data, path)
        self._snapshot_seq[name] = account.seq
        records, end, torn = read_records(data, path, offset)
        _replay(account, records, path)
        if account.seq == 0:
            raise StorageCorrupt(f"{path} holds no events")
        if writer is not None:
            if torn:
                writer.wipe(end, len(data[end:].rstrip(b"\0")))
            writer.start_at(end)
        return account

    def events(self, name: str) -> list[Event]:
        self.check_usable(name)
        path = self.folder(name) / self.marker
        if not path.is_file():
            raise self.missing(name)
        data = read_bytes(path)
        check_not_truncated(data, path)
        records, _, _ = read_records(data, path)
        events = [_event(record, path) for record in records]
        _replay(Account(name=name), records, path)  # checks the history adds up
        return events

    def _newest_snapshot(self, name: str, journal: bytes, path: Path) -> tuple[Account, int]:
        for snapshot in _snapshots(self.folder(name)):
            try:
                record = unframe(read_bytes(snapshot).rstrip(b"\n"), snapshot, 0)
                account, offset, crc = _parse_snapshot(record)
            except (StorageError, KeyError, TypeError, ValueError):
                continue  # a damaged snapshot is only an optimisation lost: use an older one
            if account.name != name:
                continue
            try:  # ...but a good one that the journal contradicts means lost history
                found, found_crc = record_ending_at(journal, offset, path)
                if found.get("seq") != account.seq or (crc is not None and found_crc != crc):
                    raise ValueError(f"the record ending at byte {offset} is not event "
                                     f"{account.seq}")
            except ValueError as error:
                raise StorageCorrupt(f"snapshot {snapshot} does not match journal {path} "
                                     f"({error}): the journal lost or changed "
                                     "history") from error
            return account, offset
        return Account(name=name), 0


def _parse_snapshot(record: dict) -> tuple[Account, int, int | None]:
    """(state, journal offset, checksum of the record there; None for format 1)."""
    account = account_from_snapshot(record["account"])
    offset = record["offset"]
    if isinstance(offset, bool) or not isinstance(offset, int) or offset <= 0:
        raise ValueError(f"bad offset {offset!r}")
    if record["format"] == 1:
        return account, offset, None
    crc = record["crc"]
    if (record["format"] != SNAPSHOT_FORMAT or record["seq"] != account.seq
            or isinstance(crc, bool) or not isinstance(crc, int)):
        raise ValueError("not a snapshot this raybank writes")
    return account, offset, crc


def _snapshots(folder: Path) -> list[Path]:
    """Snapshot files, newest first."""
    return sorted(folder.glob("snapshot-*.json"), reverse=True)


def _event(record: dict, path: Path) -> Event:
    try:
        return event_from_record(record)
    except ValueError as error:
        raise StorageCorrupt(f"{path} holds a malformed event: {error}") from error


def _replay(account: Account, records: list[dict], path: Path) -> None:
    for record in records:
        try:
            account.apply(_event(record, path))
        except StorageError as error:
            raise StorageCorrupt(f"{path}: {error}") from error
