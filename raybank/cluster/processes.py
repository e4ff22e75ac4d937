"""The processes of one Ray node raybank started: found by proof, stopped, nothing else.

Each node raybank starts (the head, and each worker of ``up --nodes N``) is one ``ray start``
launched in a new session (``setsid``), so every process Ray spawns for it -- GCS, raylet,
agents, workers -- shares that session's id. Session ids are pids, and pids are reused: a
record left by a node that died may name a session that now belongs to something else. So a
process is stopped only if it is in that session *and* proves it belongs to that node (see
``belongs``). Nothing here runs ``ray stop``, which would stop every Ray cluster of the user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

STOP_GRACE_S = 5.0
CONNECT_TIMEOUT_S = 2.0
TEMP_PREFIX = "raybank-"
CLUSTER_ID_VARIABLE = "RAYBANK_CLUSTER_ID"


class ProcessGroup(Protocol):
    """What raybank records of a node it started: enough to find and prove its processes."""

    @property
    def session_id(self) -> int: ...

    @property
    def temp_dir(self) -> str: ...

    # Random, in the environment of every process of the node (RAYBANK_CLUSTER_ID). Empty
    # in records written before it existed: then only the temp-dir proofs apply.
    @property
    def cluster_id(self) -> str: ...


def answers(address: str, timeout: float = CONNECT_TIMEOUT_S) -> bool:
    """Does something accept TCP connections at ``host:port``? (Ray's init would hang.)"""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout):
            return True
    except (OSError, ValueError):
        return False


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def session_processes(group: ProcessGroup) -> list[int]:
    """This user's live processes of the node's session that prove they are the node's."""
    uid = os.getuid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            state, sid = fields[0], int(fields[3])
        except (OSError, IndexError, ValueError):
            continue
        if sid == group.session_id and state != "Z" and belongs(entry, group):
            found.append(int(entry.name))
    return found


def belongs(process: Path, group: ProcessGroup) -> bool:
    """Does this process (a /proc entry) prove it is one of the node's own?

    Any one proof will do, because Ray's processes each show a different one: the cluster
    id in the environment every process inherits from ``ray start`` (setproctitle may
    overwrite that area in renamed workers), or the node's private temp dir in the
    command line (GCS, raylet), the working folder, or an open file (the agents that renamed
    themselves still hold their logs there; RAY-NOTES.md).
    """
    if group.cluster_id and _reads(process / "environ", lambda path: (
            f"{CLUSTER_ID_VARIABLE}={group.cluster_id}".encode()
            in path.read_bytes().split(b"\0"))):
        return True
    if not created_temp_dir(group.temp_dir):
        return False  # a record naming some other folder proves nothing by it
    inside = os.fsencode(group.temp_dir.rstrip("/") + "/")

    def points_inside(link: Path) -> bool:
        return (os.fsencode(os.readlink(link)) + b"/").startswith(inside)

    return (_reads(process / "cmdline", lambda path: inside in path.read_bytes())
            or _reads(process / "cwd", points_inside)
            or _reads(process / "fd", lambda fds: any(
                _reads(fd, points_inside) for fd in fds.iterdir())))


def _reads(path: Path, check: Callable[[Path], bool]) -> bool:
    """``check(path)``, or False when the process is gone or hides it (another user's)."""
    try:
        return check(path)
    except OSError:
        return False


def created_temp_dir(path: str) -> bool:
    """Is ``path`` a temp dir of the kind raybank makes for a node, owned by this user?"""
    folder = Path(path)
    if folder.parent != Path(tempfile.gettempdir()) or not folder.name.startswith(TEMP_PREFIX):
        return False
    try:
        info = folder.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()


def stop_group(group: ProcessGroup, signals: Sequence[signal.Signals] = (
        signal.SIGTERM, signal.SIGKILL), gone_when_refused: str | None = None) -> bool:
    """Signal the node's processes (SIGTERM, then SIGKILL what lingers) and remove its temp
    dir; True if any were running.

    ``gone_when_refused``: an address (its GCS, for the head) that answers until the node is
    really gone -- a zombie still passes ``kill -0``.
    """
    found = session_processes(group)
    pids = found
    for sig in signals:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and session_processes(group):
            time.sleep(0.1)
        pids = session_processes(group)
        if not pids:
            break
    if gone_when_refused is not None:
        deadline = time.monotonic() + STOP_GRACE_S
        while answers(gone_when_refused, timeout=0.2) and time.monotonic() < deadline:
            time.sleep(0.1)
    if created_temp_dir(group.temp_dir):  # never a folder raybank did not make
        shutil.rmtree(group.temp_dir, ignore_errors=True)
    return bool(found)
