"""Where accounts live on disk: one interface, two formats, one folder per namespace."""

from __future__ import annotations

import os
from pathlib import Path

from raybank.domain.errors import InvalidOption
from raybank.storage import layout
from raybank.storage.base import AccountStore
from raybank.storage.files import read_bytes, write_atomically
from raybank.storage.journal import DEFAULT_SNAPSHOT_EVERY, JournalStore
from raybank.storage.pickled import PickledStateStore, load_or_create_key

STORAGE_KINDS = ("journal", "snapshot")
PERSISTENCE_MODES = ("direct", "pool")


class Storage:
    """The accounts of one namespace, whichever format each was created in.

    New accounts use ``default_kind``; an existing account is read by the store whose
    marker file its folder holds, so both formats live side by side.
    """

    def __init__(self, home: Path, namespace: str, default_kind: str = "journal") -> None:
        self.namespace_dir = layout.namespace_dir(home, namespace)
        self.root = layout.accounts_root(home, namespace)
        self._persistence_marker = layout.persistence_marker(home, namespace)
        snapshot_every = int(os.environ.get("RAYBANK_SNAPSHOT_EVERY", DEFAULT_SNAPSHOT_EVERY))
        self.stores: dict[str, AccountStore] = {
            "journal": JournalStore(self.root, snapshot_every=snapshot_every),
            "snapshot": PickledStateStore(self.root, load_or_create_key(layout.signing_key(home))),
        }
        self.default = self.stores[default_kind]

    def store_for(self, name: str) -> AccountStore:
        for store in self.stores.values():
            if store.owns(name):
                return store
        return self.default

    def exists(self, name: str) -> bool:
        return self.default.exists(name)

    @property
    def persistence(self) -> str:
        """How the namespace's account actors reach storage: "direct" or through a "pool"."""
        path = self._persistence_marker
        return read_bytes(path).decode().strip() if path.exists() else "direct"

    def choose_persistence(self, requested: str | None) -> str:
        """Fix the namespace's persistence mode on first use; refuse a change later.

        One mode per namespace keeps one writer per journal: an account is never written
        both by its own actor and by a persistence actor.
        """
        current = self.persistence
        if requested is None or requested == current:
            return current
        if requested not in PERSISTENCE_MODES:
            raise InvalidOption(f"invalid persistence {requested!r}: use one of "
                                f"{', '.join(PERSISTENCE_MODES)}")
        if self._persistence_marker.exists() or self.names():
            raise InvalidOption(f"this namespace already uses {current} persistence; "
                                f"choose {requested} for a new namespace")
        write_atomically(self._persistence_marker, requested.encode())
        return requested

    def names(self) -> list[str]:
        """Every account of the namespace, sorted; hidden staging folders are skipped."""
        names = (layout.name_of(entry.name) for entry in self.root.iterdir()
                 if entry.is_dir() and not entry.name.startswith("."))
        return sorted(name for name in names if name)


__all__ = ["AccountStore", "JournalStore", "PickledStateStore", "Storage", "STORAGE_KINDS",
           "PERSISTENCE_MODES"]
