"""`raybank accounts`: every account at one consistent cut, with the bank's total.

The total never counts a transfer's money twice or not at all (docs/transfers.md, "A
consistent total"): while the reads run, the coordinator lets no transfer leg run, and each
account is read together with the legs of the unended transfers it has applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raybank.domain.errors import BankError, CutTimeout
from raybank.domain.transfer import InFlight, applied_legs, consistent_total
from raybank.routing.introspection import INACTIVE
from raybank.service.namespace import passivation_counts
from raybank.storage.transfer_log import TransferLog

if TYPE_CHECKING:
    from raybank.service.bank import Bank

PAUSE_LEASE_S = 10.0  # how long a read may pause transfer legs (doubled on each redo)
CUT_ATTEMPTS = 3
Legs = dict[str, dict[str, list[str]]]


def list_accounts(bank: Bank, limit: int | None = None) -> dict[str, Any]:
    """Every account with its actor (only the first ``limit`` by name, if given), and the
    total and count of them all at one consistent cut."""
    log = TransferLog(bank.home, bank.namespace).path
    if not log.exists():
        rows, legs = read_accounts(bank, [], limit)
        # The log exists before any leg runs: still none, so no leg ran during the reads.
        if not log.exists():
            return with_total(rows, [], legs, limit)
    for attempt in range(CUT_ATTEMPTS):
        token, in_flight = bank.coordinator_call("pause", PAUSE_LEASE_S * 2 ** attempt)
        try:
            rows, legs = read_accounts(bank, in_flight, limit)
        finally:
            held = _resume(bank, token)
        if held:
            return with_total(rows, in_flight, legs, limit)
    raise CutTimeout("the accounts could not all be read within a pause of the "
                     "transfers; try again")


def _resume(bank: Bank, token: str) -> bool:
    """Let transfer legs run again; False if the pause may have ended before now."""
    try:
        return bank.coordinator_call("resume", token)
    except BankError:
        return False  # its lease ends it anyway; the read is redone or reported


def read_accounts(bank: Bank, in_flight: list[InFlight], limit: int | None = None
                  ) -> tuple[list[dict[str, Any]], Legs]:
    """Each account once, with which of its unended transfers' money legs it has applied:
    live ones all at once (one call per account actor, or per host for all its accounts),
    the others from storage. Rows past ``limit`` carry only the balance the total needs."""
    live = bank.routing.live_names()
    names = bank.storage.names()
    involved: dict[str, list[str]] = {}
    for transfer in in_flight:
        for name in (transfer.source, transfer.target):
            involved.setdefault(name, []).append(transfer.transfer_id)
    calls = bank.routing.submit_listings([name for name in names if name in live], involved)
    rows, legs = [], {}
    for position, name in enumerate(names):
        shown = limit is None or position < limit
        call = calls.get(name)
        if call is None:
            account = bank.storage.store_for(name).load(name)
            rows.append({**account.summary(), "actor": dict(INACTIVE)})
            legs[name] = applied_legs(account.applied, involved.get(name, []))
            continue
        answer = call.result()
        rows.append({**answer["summary"],  # describe only what is shown: a GCS look-up
                     "actor": bank.routing.describe(call.handle) if shown else None,
                     "calls": answer["process"]["calls"]})
        legs[name] = answer["legs"]
    return rows, legs


def with_total(rows: list[dict[str, Any]], in_flight: list[InFlight], legs: Legs,
               limit: int | None = None) -> dict[str, Any]:
    """The `accounts` result: the first ``limit`` rows (all without it), and the total of
    every row with each transfer counted once, with how many there are."""
    balances = {row["name"]: row["balance"] for row in rows}
    shown = rows if limit is None else rows[:limit]
    return {"accounts": shown, "total": consistent_total(balances, in_flight, legs),
            "count": len(rows), "shown": len(shown)}


def with_passivation(listing: dict[str, Any], bank: Bank) -> dict[str, Any]:
    """The listing with the namespace's activations and evictions (routing/passivation.py)."""
    return {**listing, **passivation_counts(bank.home, bank.namespace)}
