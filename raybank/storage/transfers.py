"""The coordinator's transfer log: every state a transfer reaches, appended and fsync'd.

One file per namespace, ``<home>/namespaces/<hex ns>/transfers/transfers.log``, framed like
an account journal (CRC-32 + JSON a line). A record is written, flushed and fsync'd before
the coordinator takes the step it announces, so the newest record of each transfer is
where recovery resumes. Only a final line torn by a crash (never acknowledged) is dropped.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import BinaryIO

from raybank.errors import StorageError
from raybank.storage.base import folder_name
from raybank.storage.files import PRIVATE_FILE, private_dir, read_bytes
from raybank.storage.framing import frame, read_records
from raybank.storage.journal import _lock_exclusively
from raybank.transfer import TransferRecord

LOG_NAME = "transfers.log"


class TransferLog:
    """Append-only record of transfer states; one writer process, many writer threads."""

    def __init__(self, home: Path, namespace: str) -> None:
        self.folder = home / "namespaces" / folder_name(namespace) / "transfers"
        self.path = self.folder / LOG_NAME
        self._writer: BinaryIO | None = None
        self._write_lock = threading.Lock()

    def open(self) -> dict[str, TransferRecord]:
        """Take the log for writing and return the newest record of every transfer."""
        private_dir(self.folder)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
            writer = os.fdopen(fd, "ab")
        except OSError as error:
            raise StorageError(f"cannot open {self.path}: {error.strerror}",
                               "storage-unwritable") from error
        _lock_exclusively(writer)  # a dying predecessor may still hold it for a moment
        try:
            latest = self._read(writer)
        except BaseException:
            writer.close()
            raise
        self._writer = writer
        return latest

    def _read(self, writer: BinaryIO) -> dict[str, TransferRecord]:
        records, end, torn = read_records(read_bytes(self.path), self.path)
        if torn:
            try:
                os.truncate(writer.fileno(), end)
                os.fsync(writer.fileno())
            except OSError as error:
                raise StorageError(f"cannot repair the torn tail of {self.path}: "
                                   f"{error.strerror}", "storage-unwritable") from error
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
                self._writer.write(frame(record.to_record()))
                self._writer.flush()
                os.fsync(self._writer.fileno())
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
