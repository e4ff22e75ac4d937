"""The accounts of a hosted namespace as storage alone sees them, one shard at a time.

Hosts write their shards (shard_journal.py); the service reads them here for what needs no
host: `history`, `verify`, an account whose host is down. Each read opens the shard afresh
and read-only (never taking it over), and nothing here holds more than one shard's index:
a bank of 100,000 accounts is read in pieces of a few thousand.
"""

from __future__ import annotations

from collections.abc import Iterator
from hashlib import blake2b
from pathlib import Path

from raybank.storage import layout
from raybank.storage.shard_journal import ShardStore


def shard_of(name: str, shards: int) -> int:
    """The shard of an account: a stable hash of its name, the same in every process and
    Python version (never ``hash()``, which is salted per process)."""
    digest = blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


class ShardedStorage:
    """Read-only access to every shard of one hosted namespace."""

    def __init__(self, home: Path, namespace: str, shards: int) -> None:
        self.home, self.namespace, self.shards = home, namespace, shards

    def folder(self, shard: int) -> Path:
        return layout.shard_dir(self.home, self.namespace, shard)

    def reader(self, shard: int) -> ShardStore:
        """A fresh read-only view of one shard (what is on disk now)."""
        return ShardStore(self.folder(shard))

    def store_for(self, name: str) -> ShardStore:
        return self.reader(shard_of(name, self.shards))

    def exists(self, name: str) -> bool:
        return self.folder(shard_of(name, self.shards)).is_dir() and (
            self.store_for(name).exists(name))

    def each_shard(self) -> Iterator[ShardStore]:
        """Every shard that holds accounts, one at a time."""
        for shard in range(self.shards):
            if self.folder(shard).is_dir():
                yield self.reader(shard)

    def names(self) -> list[str]:
        return sorted(name for store in self.each_shard() for name in store.names())

    def count(self) -> int:
        return sum(len(store.names()) for store in self.each_shard())
