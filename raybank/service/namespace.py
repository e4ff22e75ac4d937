"""What a command may learn of a namespace from disk alone, without attaching to Ray.

`status` counts accounts, `create` checks the storage format it is asked for before any
cluster is involved, and the shell completes account names; the CLI reaches storage only
through here. No Ray import.
"""

from __future__ import annotations

from pathlib import Path

import os

from raybank.storage import STORAGE_KINDS, Storage, layout

__all__ = ["STORAGE_KINDS", "count_accounts", "names_starting"]


def count_accounts(home: Path, namespace: str) -> int:
    """How many accounts the namespace holds on disk, in any storage format."""
    return len(Storage(home, namespace).names())


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
