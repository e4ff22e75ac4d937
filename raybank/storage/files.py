"""Durable, private file operations: the only place raybank touches the disk directly."""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import time
from pathlib import Path

from raybank.domain.errors import StorageError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
LOCK_WAIT_S = 10.0


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by this user only (0700).

    A folder that already exists keeps its mode: raybank never changes the mode of a folder
    it did not create (a chmod of ``--home /tmp`` once locked other users out of /tmp).
    ``mkdir(parents=True)`` would give the parents the umask's mode instead.
    """
    try:
        missing = [path, *(parent for parent in path.parents if not parent.exists())]
        for folder in reversed(missing):
            try:
                folder.mkdir(mode=PRIVATE_DIR)
            except FileExistsError:
                continue  # there already, or made by a racing process: not ours to change
            folder.chmod(PRIVATE_DIR)  # exactly 0700, whatever the umask left
        if not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder")
    except OSError as error:
        raise StorageError(f"cannot create data folder {path}: {error.strerror}",
                           "storage-unwritable") from error
    return path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` survive a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new, never half."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {path}: {error.strerror}", "storage-unwritable") from error


def read_bytes(path: Path) -> bytes:
    """Read a file, turning any OS error into a StorageError that names it."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise StorageError(f"cannot read {path}: {error.strerror}", "storage-unreadable") from error


def contained(root: Path, child: Path) -> Path:
    """Refuse any path that would leave ``root`` (defence in depth behind name rules)."""
    resolved_root = root.resolve()
    resolved = child.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise StorageError(f"refusing path {child} outside the data folder {root}",
                           "storage-unsafe-path")
    return child


def lock_exclusively(fd: int, path: Path) -> None:
    """Hold the only writer's lock on ``path``; wait briefly for a dying predecessor.

    On failure the descriptor is closed and a StorageError raised.
    """
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise StorageError(f"{path} is locked by another live process",
                                   "storage-locked") from None
            time.sleep(0.05)
