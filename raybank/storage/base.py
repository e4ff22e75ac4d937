"""The storage interface: where an account's events live, whatever the file format.

An account is a folder under its namespace's root, named by the hex encoding of the account
name: reversible, case-safe on any filesystem, and unable to escape the root whatever the
name. A folder appears only by an atomic rename once the account's first event is durable, so
"the folder exists" means "the account exists"; a folder without its state is damage, never a
reason to start afresh.
"""

from __future__ import annotations

import os
import secrets
import shutil
from abc import ABC, abstractmethod
from pathlib import Path

from raybank.domain.account import Account, Event
from raybank.domain.errors import (
    AccountExists,
    AccountNotFound,
    StorageError,
    StorageMissing,
    StorageUnwritable,
)
from raybank.storage.files import contained, durable_dir, fsync_dir, private_dir
from raybank.storage.layout import folder_name


class AccountStore(ABC):
    """Durable home of the accounts of one namespace.

    Implementations decide the format; they all promise that ``append`` returns only once
    the event is on disk, that ``load`` rebuilds exactly the acknowledged state or raises,
    and that they never assume one account is one process forever.
    """

    kind: str
    marker: str  # the file inside an account folder that says this store owns it

    def __init__(self, root: Path) -> None:
        self.root = durable_dir(root)
        self._refused: dict[str, str] = {}  # account -> why this process no longer trusts it

    # -- layout ----------------------------------------------------------------------------
    def folder(self, name: str) -> Path:
        return contained(self.root, self.root / folder_name(name))

    def exists(self, name: str) -> bool:
        return self.folder(name).is_dir()

    def owns(self, name: str) -> bool:
        return (self.folder(name) / self.marker).exists()

    def create(self, account: Account, event: Event) -> None:
        """Write an account's first event and publish its folder in one atomic rename."""
        folder = self.folder(account.name)
        staging = self.root / f".new-{folder_name(account.name)}-{secrets.token_hex(4)}"
        try:
            private_dir(staging)
            self._write_initial(staging, account, event)
            fsync_dir(staging)
            os.rename(staging, folder)
        except (OSError, StorageError) as error:
            shutil.rmtree(staging, ignore_errors=True)
            if self.exists(account.name):
                raise AccountExists(f"account {account.name!r} already exists") from error
            why = error.strerror if isinstance(error, OSError) else str(error)
            raise StorageUnwritable(f"cannot create {folder}: {why}",
                                    not_applied=True) from error
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        try:
            fsync_dir(self.root)
        except OSError as error:  # the account exists now, but a crash may still undo it
            raise self.refuse_until_restart(account.name, StorageUnwritable(
                f"cannot sync {self.root} after creating {folder}: {error.strerror}; the "
                "account may or may not survive a crash")) from error

    def refuse_until_restart(self, name: str, error: StorageError) -> StorageError:
        """Stop trusting ``name`` in this process after ``error``; returns it, to be raised."""
        self._refused[name] = error.message
        return error

    def check_usable(self, name: str) -> None:
        """Refuse an account whose earlier write failed in a way this process cannot undo."""
        why = self._refused.get(name)
        if why is not None:
            raise StorageUnwritable(f"account {name!r} is refused until this process restarts: "
                                    f"an earlier write failed ({why})")

    def delete(self, name: str) -> None:
        """Remove an account's folder (the simulator and the demo clean up with it)."""
        shutil.rmtree(self.folder(name), ignore_errors=True)

    def missing(self, name: str) -> AccountNotFound | StorageError:
        """The right error for an account whose state cannot be found."""
        folder = self.folder(name)
        if not folder.is_dir():
            return AccountNotFound(f"no account named {name!r}")
        return StorageMissing(
            f"state of account {name!r} is missing: expected {folder / self.marker}",
        )

    # -- what each format implements -------------------------------------------------------
    @abstractmethod
    def _write_initial(self, folder: Path, account: Account, event: Event) -> None:
        """Write the state of a new account (after its first event) into ``folder``."""

    @abstractmethod
    def load(self, name: str, *, repair: bool = False) -> Account:
        """Rebuild the acknowledged state. ``repair`` lets the single writer drop a torn tail."""

    @abstractmethod
    def append(self, account: Account, event: Event, *, sync: bool = True) -> None:
        """Make ``event`` durable; ``account`` is the state with the event already applied.

        With ``sync=False`` a store may leave the event written but not yet on disk until
        ``sync``: several events then share one fsync (group commit). Nothing appended
        that way may be acknowledged before ``sync`` returns.
        """

    def sync(self, name: str) -> None:
        """Make every event appended with ``sync=False`` durable (no-op if all are)."""

    @abstractmethod
    def events(self, name: str) -> list[Event]:
        """Every event of the account, oldest first, read from storage alone."""

    def close(self, name: str) -> None:
        """Release whatever the store holds open for ``name``."""

    def close_all(self) -> None:
        """Release everything the store holds open."""
