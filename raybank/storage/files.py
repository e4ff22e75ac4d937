"""Durable, private file operations: the only place raybank touches the disk directly."""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import time
from pathlib import Path

from raybank.domain.errors import (
    StorageLocked,
    StorageUnreadable,
    StorageUnsafePath,
    StorageUnwritable,
)

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
        raise StorageUnwritable(f"cannot create data folder {path}: {error.strerror}") from error
    return path


def durable_dir(path: Path) -> Path:
    """``private_dir``, then sync the parent of every folder it had to create, so that a
    crash cannot lose the folder that files are about to be published in."""
    created = [folder for folder in (path, *path.parents) if not folder.exists()]
    private_dir(path)
    try:
        for folder in reversed(created):
            fsync_dir(folder.parent)
    except OSError as error:
        raise StorageUnwritable(f"cannot sync data folder {path}: {error.strerror}") from error
    return path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` survive a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes, offset: int | None = None) -> None:
    """Write every byte of ``data`` at ``offset`` (or at the file position).

    A write may take fewer bytes than it was given (a full disk, a signal, a file size
    limit): the rest is written again until the kernel takes it or reports why not. A write
    that takes nothing without an error counts as a full disk, never as a reason to loop.
    """
    view = memoryview(data)
    while view:
        written = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]
        if offset is not None:
            offset += written


def _write_new(path: Path, data: bytes) -> None:
    """Write a new private file and sync it (its folder is the caller's to sync)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new, never half.

    A failure before the rename leaves the old file and says the write was not applied; a
    failure to sync the folder after it cannot say which of the two a crash would leave.
    """
    tmp = _temporary(path)
    try:
        _write_new(tmp, data)
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise StorageUnwritable(f"cannot write {path}: {error.strerror}",
                                not_applied=True) from error
    try:
        fsync_dir(path.parent)
    except OSError as error:
        raise StorageUnwritable(f"cannot sync the folder of {path} after replacing it: "
                                f"{error.strerror}") from error


def create_once(path: Path, data: bytes) -> None:
    """Create ``path`` holding ``data`` unless it exists: never half-written, never replaced.

    The data is written to a temporary file first and then linked to ``path``; the link
    fails if ``path`` exists, so of two racing first uses one wins and the other keeps the
    winner's file. Either way the folder is synced before the caller relies on the file.
    """
    tmp = _temporary(path)
    try:
        _write_new(tmp, data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # someone else created it first: theirs is the one
        fsync_dir(path.parent)
    except OSError as error:
        raise StorageUnwritable(f"cannot create {path}: {error.strerror}") from error
    finally:
        tmp.unlink(missing_ok=True)


def read_bytes(path: Path) -> bytes:
    """Read a file, turning any OS error into a StorageError that names it."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise StorageUnreadable(f"cannot read {path}: {error.strerror}") from error


def contained(root: Path, child: Path) -> Path:
    """Refuse any path that would leave ``root`` (defence in depth behind name rules)."""
    resolved_root = root.resolve()
    resolved = child.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise StorageUnsafePath(f"refusing path {child} outside the data folder {root}")
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
                raise StorageLocked(f"{path} is locked by another live process") from None
            time.sleep(0.05)
