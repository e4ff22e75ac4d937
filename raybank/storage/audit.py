"""What `verify` compares: an account's whole state, read back from storage in two ways.

Recovery loads the newest snapshot and replays only what follows it, so a snapshot whose
checksum is good but whose content is wrong would be believed for ever. `verify` therefore
folds the whole history from its first event and compares that replay, field by field, with
the state the store loads and with the live actor's.

The comparable form is a *fingerprint*: balance, minimum, holds and seq as they are, and the
applied op ids as one SHA-256 digest. It is a few hundred bytes whatever the history's length
(182 pickled at 50,000 op ids, where the whole state is about 3 MiB), so asking a live actor
for it costs one small reply and about 0.1 s of the actor's CPU to hash, and it still names
which field differs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from raybank.domain.account import Account, AppliedOp, replay
from raybank.domain.money import format_money
from raybank.storage.base import AccountStore

FIELDS = ("balance", "min balance", "holds", "op ids", "seq")


def fingerprint(account: Account) -> dict[str, Any]:
    """The account's whole state in a small form that compares equal only for equal states."""
    return {
        "balance": account.balance,
        "min balance": account.min_balance,
        "holds": dict(account.holds),
        "op ids": _digest(account.applied),
        "seq": account.seq,
    }


def _digest(applied: dict[str, AppliedOp]) -> str:
    """One hash over every op id and what it did; sorted, because a snapshot's order is not
    the journal's."""
    rows = sorted(
        (op_id, op.type, _money(op.amount), format_money(op.balance), op.counterparty,
         _money(op.min_balance))
        for op_id, op in applied.items()
    )
    return hashlib.sha256(json.dumps(rows).encode("utf-8")).hexdigest()


def _money(value: Any) -> str | None:
    return None if value is None else format_money(value)


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """The fields of two fingerprints that differ, in FIELDS order."""
    return [field for field in FIELDS if expected[field] != actual.get(field)]


@dataclass(frozen=True)
class StoredCheck:
    """An account read back from storage alone, both ways."""

    replayed: Account  # every event from the first, folded: the truth
    loaded: Account  # what recovery loads: newest snapshot and what follows, or the state file
    truth: dict[str, Any]  # the replay's fingerprint, to compare a live actor's with
    differences: list[str]  # what the loaded state gets wrong: empty if nothing


def read_back(store: AccountStore, name: str) -> StoredCheck:
    """Replay ``name``'s whole history and load it as recovery would (StorageError if either
    cannot be read)."""
    loaded = store.load(name)
    replayed = replay(name, store.events(name))
    truth = fingerprint(replayed)
    return StoredCheck(replayed, loaded, truth, differences(truth, fingerprint(loaded)))
