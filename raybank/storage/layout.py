"""The map of a raybank data folder (RAYBANK_HOME): every stored path is built here.

    <home>/secret.key                             signs whole-state files (pickled.py)
    <home>/namespaces/<hex of namespace>/
        persistence                               "pool" if writes go through the pool
        transfers/transfers.log                   the transfer coordinator's records
        accounts/<hex of account name>/...        one folder per account (base.py)
        placement                                 "hosted": shards and hosts (placement.py)
        shards/<NNN>/journal.log, epoch, ...      a hosted shard's accounts (shard_journal.py)

Names are hex-encoded, so no name can escape the folder or collide on a case-insensitive
filesystem. The cluster's own files (cluster.json, cluster.token, logs/) are described by
``cluster.embedded.Home``, the gateway's socket by ``gateway.wire``, fault markers by
``testing.faults``: each beside the code that owns them.
"""

from __future__ import annotations

from pathlib import Path


def folder_name(name: str) -> str:
    """The folder a name is stored under: its UTF-8 bytes in hex."""
    return name.encode("utf-8").hex()


def name_of(folder: str) -> str | None:
    """The name a folder stands for, or None for anything else (staging folders, strays)."""
    try:
        return bytes.fromhex(folder).decode("utf-8")
    except ValueError:
        return None


def namespace_dir(home: Path, namespace: str) -> Path:
    return home / "namespaces" / folder_name(namespace)


def accounts_root(home: Path, namespace: str) -> Path:
    return namespace_dir(home, namespace) / "accounts"


def persistence_marker(home: Path, namespace: str) -> Path:
    return namespace_dir(home, namespace) / "persistence"


def transfers_dir(home: Path, namespace: str) -> Path:
    return namespace_dir(home, namespace) / "transfers"


def signing_key(home: Path) -> Path:
    return home / "secret.key"


def shard_dir(home: Path, namespace: str, shard: int) -> Path:
    return namespace_dir(home, namespace) / "shards" / f"{shard:03d}"


def activations_log(home: Path, namespace: str) -> Path:
    """One byte per account actor revived from storage (actor placement's passivation)."""
    return namespace_dir(home, namespace) / "activations"


def evictions_log(home: Path, namespace: str) -> Path:
    """One byte per account actor stopped because it was idle or the limit needed room."""
    return namespace_dir(home, namespace) / "evictions"
