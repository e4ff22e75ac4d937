"""What a command may learn of a namespace from disk alone, without attaching to Ray.

`status` counts accounts, `create` checks the storage format it is asked for before any
cluster is involved, and the shell completes account names; the CLI reaches storage only
through here. No Ray import.
"""

from __future__ import annotations

from pathlib import Path

import os

from raybank.storage import STORAGE_KINDS, Storage, counters, layout
from raybank.storage.placement import effective_placement, read_placement
from raybank.storage.sharded import ShardedStorage

__all__ = ["STORAGE_KINDS", "count_accounts", "names_starting", "passivation_counts",
           "placement_of"]


def count_accounts(home: Path, namespace: str) -> int:
    """How many accounts the namespace holds on disk, in any storage format or placement."""
    placement = read_placement(home, namespace)
    if placement is not None and placement.hosted:
        return ShardedStorage(home, namespace, placement.shards).count()
    return len(Storage(home, namespace).names())


def passivation_counts(home: Path, namespace: str) -> dict[str, int]:
    """How many account actors were revived from storage, and stopped when idle or to make
    room (routing/passivation.py), since the namespace began."""
    return {"activations": counters.count(layout.activations_log(home, namespace)),
            "evictions": counters.count(layout.evictions_log(home, namespace))}


def placement_of(home: Path, namespace: str, requested: str | None) -> str:
    """The namespace's placement: the recorded one, else what its next first account would
    get (``requested``, or ``actor``)."""
    storage = Storage(home, namespace)
    return effective_placement(home, namespace, requested,
                               lambda: bool(storage.names())).kind


def names_starting(home: Path, namespace: str, prefix: str) -> list[str]:
    """The namespace's account names that start with ``prefix``, sorted (shell completion).

    Reads folder names only: it creates nothing (``Storage`` would create the signing key)
    and never fails -- a missing or unreadable folder completes nothing.
    """
    try:
        with os.scandir(layout.accounts_root(home, namespace)) as entries:
            names = [layout.name_of(entry.name) for entry in entries
                     if not entry.name.startswith(".") and entry.is_dir()]
    except OSError:
        return []
    return sorted(name for name in names if name and name.startswith(prefix))
