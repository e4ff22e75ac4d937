"""The coordinator's transfer log: every state a transfer reaches, appended and fsync'd.

One file per namespace, ``<home>/namespaces/<hex ns>/transfers/transfers.log``, framed like
an account journal (CRC-32 + JSON a line, then zeroed space). A record is written and
synced (by the journal's ``JournalWriter``) before the coordinator takes the step it
announces, so the newest record of each transfer is where recovery resumes. Only a final
line torn by a crash (never acknowledged) is dropped; a log cut inside its records is
truncated. A log is created as a page of zeros, so it is never empty; an empty log (older
versions created one before their first transfer) holds nothing to lose and is accepted.
"""

from __future__ import annotations

import threading
from pathlib import Path

from raybank.domain.errors import StorageCorrupt, StorageError, StorageUnwritable
from raybank.domain.transfer import TransferRecord
from raybank.storage import layout
from raybank.storage.codecs import transfer_from_record, transfer_record
from raybank.storage.files import create_once, durable_dir, read_bytes
from raybank.storage.framing import check_not_truncated, frame, read_records
from raybank.storage.journal import PAGE_BYTES, JournalWriter

LOG_NAME = "transfers.log"


class TransferLog:
    """Append-only record of transfer states; one writer process, many writer threads."""

    def __init__(self, home: Path, namespace: str) -> None:
        self.folder = layout.transfers_dir(home, namespace)
        self.path = self.folder / LOG_NAME
        self._writer: JournalWriter | None = None
        self._write_lock = threading.Lock()
        self._refused: StorageError | None = None  # a write this process could not undo

    def open(self) -> dict[str, TransferRecord]:
        """Take the log for writing and return the newest record of every transfer."""
        if self._refused is not None:
            raise StorageUnwritable(f"{self.path} is refused until this process restarts: "
                                    f"{self._refused}")
        durable_dir(self.folder)
        if not self.path.exists():
            create_once(self.path, bytes(PAGE_BYTES))
        writer = JournalWriter(self.path)  # a dying predecessor may hold it for a moment
        try:
            data = read_bytes(self.path)
            if data:
                check_not_truncated(data, self.path)
            records, end, torn = read_records(data, self.path)
            if torn:
                writer.wipe(end, len(data[end:].rstrip(b"\0")))
            writer.start_at(end)
            latest = self._latest(records)
        except BaseException:
            self._refused = writer.broken  # set if even repairing the torn tail failed
            writer.close()
            raise
        self._writer = writer
        return latest

    def _latest(self, records: list[dict]) -> dict[str, TransferRecord]:
        latest: dict[str, TransferRecord] = {}
        for position, record in enumerate(records):
            try:
                transfer = transfer_from_record(record)
            except ValueError as error:
                raise StorageCorrupt(f"{self.path} record {position + 1}: {error}") from error
            latest[transfer.transfer_id] = transfer
        return latest

    def append(self, record: TransferRecord) -> None:
        """Make ``record`` durable; returns only once it is on disk."""
        self.append_many([record])

    def append_many(self, records: list[TransferRecord]) -> None:
        """Make every record durable with one sync (a group commit of many transfers'
        steps); returns only once all are on disk, and if that fails, none counts."""
        if self._writer is None:
            raise StorageUnwritable(f"{self.path} is not open for writing")
        if not records:
            return
        with self._write_lock:
            try:
                for record in records:
                    self._writer.append(frame(transfer_record(record)), sync=False)
                self._writer.sync()
            except StorageError:
                # Erased (not applied) or not: refuse further appends until the log is
                # reopened, and for good in this process if the writer could not erase it.
                self._refused = self._writer.broken
                self.close()
                raise

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
