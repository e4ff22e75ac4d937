"""The gateway's wire: a Unix socket private to the user, one request and one reply a connection.

The socket lives in RAYBANK_HOME (mode 0700) with mode 0600, and both ends check the other's
uid with SO_PEERCRED, so only the user who owns the home can talk to its gateway. Each message
is a 4-byte big-endian length and a JSON object. Standard library only: the thin client
imports this module and nothing heavier.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SOCKET_NAME = "gateway.sock"
MAX_MESSAGE = 256 * 1024 * 1024
_LENGTH = struct.Struct("!I")
_PEERCRED = struct.Struct("3i")  # pid, uid, gid
# sun_path holds 108 bytes; longer paths are reached through the folder's /proc fd.
_MAX_SUN_PATH = 100


class WireError(OSError):
    """The other end broke the protocol, or is not who it must be."""


def socket_path(home: Path) -> Path:
    return home / SOCKET_NAME


@contextlib.contextmanager
def addressable(path: Path) -> Iterator[str]:
    """A path to ``path`` short enough for bind/connect, valid inside the ``with``."""
    if len(os.fsencode(str(path))) <= _MAX_SUN_PATH:
        yield str(path)
        return
    folder = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def peer(sock: socket.socket) -> tuple[int, int]:
    """The (pid, uid) of the process at the other end of a connected Unix socket."""
    pid, uid, _ = _PEERCRED.unpack(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
    return pid, uid


def check_peer(sock: socket.socket) -> None:
    if peer(sock)[1] != os.getuid():
        raise WireError("the other end of the gateway socket belongs to another user")


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode("utf-8")
    sock.sendall(_LENGTH.pack(len(data)) + data)


def receive(sock: socket.socket) -> dict[str, Any]:
    (length,) = _LENGTH.unpack(_read_exactly(sock, _LENGTH.size))
    if length > MAX_MESSAGE:
        raise WireError(f"message of {length} bytes is too large")
    message = json.loads(_read_exactly(sock, length))
    if not isinstance(message, dict):
        raise WireError("message is not a JSON object")
    return message


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise WireError("connection closed mid-message")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def listen(path: Path) -> socket.socket:
    """Bind the gateway's socket with mode 0600, replacing a stale one."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with addressable(path) as address:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)
        old_mask = os.umask(0o177)  # created 0600: never a moment with wider permissions
        try:
            listener.bind(address)
        finally:
            os.umask(old_mask)
    os.chmod(path, 0o600)
    listener.listen(64)
    return listener


def connect(path: Path, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with addressable(path) as address:
            sock.connect(address)
        check_peer(sock)
    except BaseException:
        sock.close()
        raise
    return sock
