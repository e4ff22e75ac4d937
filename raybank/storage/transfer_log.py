"""The coordinator's transfer log: every state a transfer reaches, appended and fsync'd.

One file per namespace, ``<home>/namespaces/<hex ns>/transfers/transfers.log``, framed like
an account journal (CRC-32 + JSON a line). A record is written and synced (by the journal's
``JournalWriter``) before the coordinator takes the step it announces, so the newest record
of each transfer is where recovery resumes. Only a final line torn by a crash (never
acknowledged) is dropped.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from raybank.domain.errors import StorageError
from raybank.storage.base import folder_name
from raybank.storage.files import PRIVATE_FILE, fsync_dir, private_dir, read_bytes
from raybank.storage.framing import frame, read_records
from raybank.storage.journal import JournalWriter
from raybank.domain.transfer import TransferRecord

LOG_NAME = "transfers.log"


class TransferLog:
    """Append-only record of transfer states; one writer process, many writer threads."""

    def __init__(self, home: Path, namespace: str) -> None:
        self.folder = home / "namespaces" / folder_name(namespace) / "transfers"
        self.path = self.folder / LOG_NAME
        self._writer: JournalWriter | None = None
        self._write_lock = threading.Lock()

    def open(self) -> dict[str, TransferRecord]:
        """Take the log for writing and return the newest record of every transfer."""
        private_dir(self.folder)
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
            fsync_dir(self.folder)
        except OSError as error:
            raise StorageError(f"cannot open {self.path}: {error.strerror}",
                               "storage-unwritable") from error
        writer = JournalWriter(self.path)  # a dying predecessor may hold it for a moment
        try:
            data = read_bytes(self.path)
            records, end, torn = read_records(data, self.path)
            if torn:
                writer.wipe(end, len(data[end:].rstrip(b"\0")))
            writer.end = end
            latest = self._latest(records)
        except BaseException:
            writer.close()
            raise
        self._writer = writer
        return latest

    def _latest(self, records: list[dict]) -> dict[str, TransferRecord]:
        latest: dict[str, TransferRecord] = {}
        for position, record in enumerate(records):
            try:
                transfer = TransferRecord.from_record(record)
            except ValueError as error:
                raise StorageError(f"{self.path} record {position + 1}: {error}",
                                   "storage-corrupt") from error
            latest[transfer.transfer_id] = transfer
        return latest

    def append(self, record: TransferRecord) -> None:
        """Make ``record`` durable; returns only once it is on disk."""
        if self._writer is None:
            raise StorageError(f"{self.path} is not open for writing", "storage-unwritable")
        with self._write_lock:
            try:
                self._writer.append(frame(record.to_record()))
            except OSError as error:
                # A half-written line must not be followed by more: refuse further appends
                # until a restart reopens the log and drops the torn tail.
                self.close()
                raise StorageError(f"cannot append to {self.path}: {error.strerror}",
                                   "storage-unwritable") from error

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
