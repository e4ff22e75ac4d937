"""Where a namespace's accounts live: one actor each, or many per host actor.

The namespace's ``placement`` file is written atomically at its first account, like the
``persistence`` marker, and never changes afterwards: ``{"placement": "hosted", "shards":
64, "hosts": 4}``. Absent means ``actor``, so every namespace made before it existed keeps
working unchanged. An account's shard is a stable hash of its name (never Python's
``hash()``, which differs per process); a shard's host is ``shard % hosts``: the small shard
-> host table, implicit in the two numbers until a rebalance writes an explicit one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import blake2b
from pathlib import Path

from raybank.domain.errors import InvalidOption, StorageCorrupt
from raybank.storage.files import durable_dir, read_bytes, write_atomically
from raybank.storage.layout import namespace_dir

ACTOR, HOSTED = "actor", "hosted"
PLACEMENTS = (ACTOR, HOSTED)
DEFAULT_SHARDS = 64
# About 90 MB each at rest. More hosts, fewer accounts held up by each restart: simulate
# with chaos ran 35 % faster with 8 than with 4 (docs/performance.md §6).
DEFAULT_HOSTS = 8


def shard_of(name: str, shards: int) -> int:
    """The shard of an account: the same in every process and Python version."""
    digest = blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


@dataclass(frozen=True)
class Placement:
    """A namespace's placement; ``shards`` and ``hosts`` are 0 in ``actor`` placement."""

    kind: str = ACTOR
    shards: int = 0
    hosts: int = 0

    @property
    def hosted(self) -> bool:
        return self.kind == HOSTED

    def shard_of(self, name: str) -> int:
        return shard_of(name, self.shards)

    def host_of(self, name: str) -> int:
        """The index of the host that serves the account's shard."""
        return self.shard_of(name) % self.hosts

    def shards_of_host(self, host: int) -> list[int]:
        return [shard for shard in range(self.shards) if shard % self.hosts == host]


def marker_path(home: Path, namespace: str) -> Path:
    return namespace_dir(home, namespace) / "placement"


def read_placement(home: Path, namespace: str) -> Placement | None:
    """The namespace's recorded placement, or None when it has no marker (``actor``)."""
    path = marker_path(home, namespace)
    if not path.exists():
        return None
    try:
        record = json.loads(read_bytes(path))
        placement = Placement(str(record["placement"]), int(record["shards"]),
                              int(record["hosts"]))
    except (ValueError, KeyError, TypeError) as error:
        raise StorageCorrupt(f"{path} is not a placement record: {error}") from None
    if placement.kind not in PLACEMENTS or (placement.hosted and not (
            0 < placement.hosts <= placement.shards)):
        raise StorageCorrupt(f"{path} holds an impossible placement: {record}")
    return placement


def requested(kind: str | None) -> str | None:
    """The placement a user asked for, checked (exit 2 for an unknown one)."""
    if kind is not None and kind not in PLACEMENTS:
        raise InvalidOption(f"invalid placement {kind!r}: use one of {', '.join(PLACEMENTS)}")
    return kind


def new_placement(kind: str) -> Placement:
    """The placement a new namespace gets; RAYBANK_SHARDS and RAYBANK_HOSTS size a hosted
    one (read once, at its first account, then fixed in its marker)."""
    if kind != HOSTED:
        return Placement()
    try:
        shards = int(os.environ.get("RAYBANK_SHARDS", DEFAULT_SHARDS))
        hosts = int(os.environ.get("RAYBANK_HOSTS", DEFAULT_HOSTS))
    except ValueError as error:
        raise InvalidOption(f"invalid RAYBANK_SHARDS or RAYBANK_HOSTS: {error}") from None
    if not 0 < hosts <= shards:
        raise InvalidOption(f"need 0 < RAYBANK_HOSTS ({hosts}) <= RAYBANK_SHARDS ({shards})")
    return Placement(HOSTED, shards, hosts)


def effective_placement(home: Path, namespace: str, kind: str | None,
                        has_accounts: Callable[[], bool]) -> Placement:
    """The placement commands use: the recorded one, else ``actor`` once the namespace has
    accounts (made before the marker existed), else the one asked for (not yet recorded)."""
    recorded = read_placement(home, namespace)
    if recorded is not None:
        return recorded
    if requested(kind) in (None, ACTOR) or has_accounts():
        return Placement()
    return new_placement(HOSTED)


def choose_placement(home: Path, namespace: str, kind: str | None,
                     has_accounts: Callable[[], bool]) -> Placement:
    """Fix the namespace's placement at its first account; refuse another one later."""
    current = effective_placement(home, namespace, kind, has_accounts)
    if kind is None or kind == current.kind:
        if current.hosted and read_placement(home, namespace) is None:
            write_placement(home, namespace, current)
        return current
    raise InvalidOption(f"this namespace already uses {current.kind} placement; choose "
                        f"{kind} for a new namespace")


def write_placement(home: Path, namespace: str, placement: Placement) -> None:
    path = marker_path(home, namespace)
    durable_dir(path.parent)
    write_atomically(path, json.dumps({"placement": placement.kind, "shards": placement.shards,
                                       "hosts": placement.hosts}).encode())
