"""The accounts of a hosted namespace as storage alone sees them, one shard at a time.

Hosts write their shards (shard_journal.py); the service reads them here for what needs no
host: `history`, `verify`, an account whose host is down. Each read opens the shard afresh
and read-only (never taking it over), and nothing here holds more than one shard's index:
a bank of 100,000 accounts is read in pieces of a few thousand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from raybank.storage import Storage, layout
from raybank.storage.placement import Placement, shard_of
from raybank.storage.shard_journal import ShardStore


class ShardedStorage(Storage):
    """Read-only access to every shard of one hosted namespace; otherwise (persistence,
    the namespace's folder) the namespace's ``Storage``, so the service uses either alike."""

    def __init__(self, home: Path, namespace: str, shards: int, *, cache: bool = False
                 ) -> None:
        """``cache``: read each shard once and keep it (a check over many accounts);
        otherwise every read sees the shard as it is on disk now."""
        super().__init__(home, namespace)
        self.home, self.namespace, self.shards = home, namespace, shards
        self._cache = cache
        self._readers: dict[int, ShardStore] = {}

    def folder(self, shard: int) -> Path:
        return layout.shard_dir(self.home, self.namespace, shard)

    def reader(self, shard: int) -> ShardStore:
        """A read-only view of one shard (kept when caching)."""
        store = self._readers.get(shard)
        if store is None:
            store = ShardStore(self.folder(shard))
            if self._cache:
                self._readers[shard] = store
        return store

    def store_for(self, name: str) -> ShardStore:  # type: ignore[override]
        return self.reader(shard_of(name, self.shards))

    def exists(self, name: str) -> bool:
        return self.folder(shard_of(name, self.shards)).is_dir() and (
            self.store_for(name).exists(name))

    def each_shard(self) -> Iterator[ShardStore]:
        """Every shard that holds accounts, one at a time (not kept: the index of one
        shard at a time in memory)."""
        for shard in range(self.shards):
            if self.folder(shard).is_dir():
                yield self._readers.get(shard) or ShardStore(self.folder(shard))

    def names(self) -> list[str]:
        return sorted(name for store in self.each_shard() for name in store.names())

    def count(self) -> int:
        return sum(len(store.names()) for store in self.each_shard())


def storage_for(home: Path, namespace: str, placement: Placement, *, cache: bool = False
                ) -> Storage:
    """The storage a namespace's accounts are read from: its shards in ``hosted``
    placement, else an account folder each."""
    if placement.hosted:
        return ShardedStorage(home, namespace, placement.shards, cache=cache)
    return Storage(home, namespace)
