"""Counts kept as file lengths: one byte appended per event, from any process.

Passivation's activations and evictions happen in many actor processes at once and are read
by short-lived commands; an O_APPEND write of one byte is atomic, needs no lock and no
reader's cooperation, and the count is the file's size. They are statistics, not state: not
synced, so a crash of the machine may lose the last few.
"""

from __future__ import annotations

import os
from pathlib import Path

from raybank.storage.files import PRIVATE_FILE


def add(path: Path) -> None:
    """Count one more (best effort: a count never fails a command)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
    except OSError:
        return
    try:
        os.write(fd, b"+")
    except OSError:
        pass
    finally:
        os.close(fd)


def count(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
