"""The whole-state backend: the seed's cloudpickle file, made safe.

The book chapter saves each account as one cloudpickled dict. This keeps that format and
fixes its corner cuts: writes are atomic and fsync'd, a missing or damaged file is an error
(never a fresh account), paths come from encoded names, and -- because unpickling runs code --
nothing is unpickled unless its HMAC-SHA256, keyed by a secret only this user can read,
proves raybank wrote it. That makes the key file the trust boundary: anyone who can read
the key (or write into the data folder *and* read it) can make raybank run code.

Every change rewrites the whole state, history included, so a write costs O(history):
fine for small accounts, and the reason the journal is the default.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

import cloudpickle

from raybank.domain.account import Account, Event
from raybank.domain.errors import StorageCorrupt, StorageError
from raybank.storage.base import AccountStore
from raybank.storage.codecs import (account_from_snapshot, event_from_record, event_record,
                                    snapshot_record)
from raybank.storage.files import PRIVATE_FILE, create_once, read_bytes, write_atomically

MAGIC = b"raybank-state-v1\n"
KEY_BYTES = 32


def load_or_create_key(path: Path) -> bytes:
    """The per-home signing key; created once, readable by this user only.

    Two first uses at once (two actors starting) must agree on one key, or each would
    refuse the other's files: the key is published by a link that fails if one exists,
    and everyone then reads the key on disk.
    """
    if not path.exists():
        create_once(path, secrets.token_bytes(KEY_BYTES))
    key = read_bytes(path)
    if len(key) != KEY_BYTES:
        raise StorageCorrupt(f"signing key {path} is damaged")
    if path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_FILE)
    return key


class PickledStateStore(AccountStore):
    kind = "snapshot"
    marker = "state.pickle"

    def __init__(self, root: Path, key: bytes) -> None:
        super().__init__(root)
        self._key = key
        self._events: dict[str, list[Event]] = {}

    def _seal(self, account: Account, events: list[Event]) -> bytes:
        payload = cloudpickle.dumps(
            {"account": snapshot_record(account), "events": [event_record(e) for e in events]}
        )
        signature = hmac.new(self._key, payload, hashlib.sha256).hexdigest().encode("ascii")
        return MAGIC + signature + b"\n" + payload

    def _write_initial(self, folder: Path, account: Account, event: Event) -> None:
        write_atomically(folder / self.marker, self._seal(account, [event]))
        self._events[account.name] = [event]

    def append(self, account: Account, event: Event, *, sync: bool = True) -> None:
        # Each write is atomic and durable on its own: nothing is ever left to ``sync``.
        if event.seq == 1:
            self.create(account, event)
            return
        self.check_usable(account.name)
        events = self._events.get(account.name)
        if events is None:
            events = self.events(account.name)
        events = [*events, event]
        try:
            write_atomically(self.folder(account.name) / self.marker,
                             self._seal(account, events))
        except StorageError as error:
            self._events.pop(account.name, None)
            if error.may_have_applied:  # replaced, but the rename may not survive a crash
                self.refuse_until_restart(account.name, error)
            raise
        self._events[account.name] = events

    def _open(self, name: str) -> tuple[Account, list[Event]]:
        self.check_usable(name)
        path = self.folder(name) / self.marker
        if not path.is_file():
            raise self.missing(name)
        data = read_bytes(path)
        header, _, payload = data[len(MAGIC):].partition(b"\n")
        expected = hmac.new(self._key, payload, hashlib.sha256).hexdigest().encode("ascii")
        if not data.startswith(MAGIC) or not hmac.compare_digest(header, expected):
            raise StorageCorrupt(
                f"{path} is corrupt or was not written by this raybank home (bad signature); "
                "refusing to unpickle it",
            )
        try:
            state = cloudpickle.loads(payload)
            account = account_from_snapshot(state["account"])
            events = [event_from_record(record) for record in state["events"]]
        except (KeyError, TypeError, ValueError) as error:
            raise StorageCorrupt(f"{path} holds malformed state: {error}") from error
        if account.name != name or (events and events[-1].seq != account.seq):
            raise StorageCorrupt(f"{path} does not hold the state of {name!r}")
        return account, events

    def load(self, name: str, *, repair: bool = False) -> Account:
        account, events = self._open(name)
        self._events[name] = events
        return account

    def events(self, name: str) -> list[Event]:
        return self._open(name)[1]

    def close(self, name: str) -> None:
        self._events.pop(name, None)
