"""How domain objects look on disk: events, account snapshots and transfer records as JSON.

The domain knows no file format; storage turns its objects into JSON-ready dicts (money as
2-digit strings, absent fields left out) and back. Reading back is strict, because stored
files are a trust boundary: every field is checked for its type and form (money a plain
decimal string with two fraction digits, counts real integers and never ``true``, no field a
record of that kind does not have), and anything else is a ValueError that the store reports
as corruption. `raybank history` shows events in the same form as they are stored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from raybank.domain.account import (
    CREATED,
    EVENT_TYPES,
    LEG_TYPES,
    Account,
    AppliedOp,
    Event,
)
from raybank.domain.money import format_money, parse_stored
from raybank.domain.transfer import STATES, TransferRecord, side

EVENT_FIELDS = frozenset({"seq", "op_id", "type", "amount", "balance", "at", "min_balance",
                          "transfer_id", "counterparty"})
SNAPSHOT_FIELDS = frozenset({"name", "balance", "min_balance", "seq", "holds", "applied"})


# -- events ----------------------------------------------------------------------------------
def event_record(event: Event) -> dict[str, Any]:
    """An event as JSON-ready data: money as 2-digit strings, absent fields left out."""
    record: dict[str, Any] = {
        "seq": event.seq,
        "op_id": event.op_id,
        "type": event.type,
        "amount": None if event.amount is None else format_money(event.amount),
        "balance": format_money(event.balance),
        "at": event.at,
    }
    if event.min_balance is not None:
        record["min_balance"] = format_money(event.min_balance)
    if event.transfer_id is not None:
        record["transfer_id"] = event.transfer_id
    if event.counterparty is not None:
        record["counterparty"] = event.counterparty
    return record


def event_from_record(record: dict[str, Any]) -> Event:
    """Rebuild an event from storage, refusing anything ``event_record`` would not write."""
    try:
        _check_fields(record, EVENT_FIELDS)
        type_ = record["type"]
        if not isinstance(type_, str) or type_ not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type_!r}")
        leg = type_ in LEG_TYPES
        return Event(
            seq=_count(record["seq"], minimum=1),
            op_id=_text(record["op_id"]),
            type=type_,
            amount=parse_stored(record["amount"]),
            balance=parse_stored(record["balance"]),
            at=_text(record["at"]),
            min_balance=_only_if(type_ == CREATED, record, "min_balance", parse_stored),
            transfer_id=_only_if(leg, record, "transfer_id", _text),
            counterparty=_only_if(leg, record, "counterparty", _text),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as error:
        raise ValueError(f"malformed event record: {error}") from error


# -- whole account states (snapshots) ----------------------------------------------------------
def snapshot_record(account: Account) -> dict[str, Any]:
    """The account's whole state as JSON-ready data (money as strings)."""
    return {
        "name": account.name,
        "balance": format_money(account.balance),
        "min_balance": format_money(account.min_balance),
        "seq": account.seq,
        "holds": {tid: format_money(amount) for tid, amount in account.holds.items()},
        "applied": {
            op_id: [op.type, None if op.amount is None else format_money(op.amount),
                    format_money(op.balance), op.counterparty,
                    None if op.min_balance is None else format_money(op.min_balance)]
            for op_id, op in account.applied.items()
        },
    }


def account_from_snapshot(data: dict[str, Any]) -> Account:
    """Rebuild an account from ``snapshot_record`` data; ValueError if it is not such data."""
    try:
        _check_fields(data, SNAPSHOT_FIELDS)
        applied = {}
        for op_id, (type_, amount, balance, counterparty, minimum) in data["applied"].items():
            if type_ not in EVENT_TYPES or not (counterparty is None
                                                or isinstance(counterparty, str)):
                raise ValueError(f"malformed applied op {op_id!r}")
            applied[_text(op_id)] = AppliedOp(
                type=type_, amount=_money_or_none(amount), balance=parse_stored(balance),
                counterparty=counterparty, min_balance=_money_or_none(minimum))
        holds = {_text(tid): parse_stored(amount) for tid, amount in data["holds"].items()}
        if any(amount <= 0 for amount in holds.values()):
            raise ValueError("a hold that is not positive")
        return Account(
            name=_text(data["name"]),
            balance=parse_stored(data["balance"]),
            min_balance=parse_stored(data["min_balance"]),
            seq=_count(data["seq"], minimum=0),
            holds=holds,
            applied=applied,
        )
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as error:
        raise ValueError(f"malformed snapshot: {error}") from error


# -- transfer records ----------------------------------------------------------------------------
def transfer_record(transfer: TransferRecord) -> dict[str, Any]:
    """A transfer's state as one line of the transfer log."""
    def money_side(value: dict[str, Any] | None) -> dict[str, str] | None:
        if value is None:
            return None
        return {"name": value["name"], "balance": format_money(value["balance"]),
                "min_balance": format_money(value["min_balance"])}

    return {"transfer_id": transfer.transfer_id, "source": transfer.source,
            "target": transfer.target, "amount": format_money(transfer.amount),
            "state": transfer.state, "request": transfer.request, "error": transfer.error,
            "source_after": money_side(transfer.source_after),
            "target_after": money_side(transfer.target_after)}


def transfer_from_record(record: dict[str, Any]) -> TransferRecord:
    """Rebuild a transfer from the log, refusing anything ``transfer_record`` would not write."""
    def stored_side(value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        return side({"name": value["name"], "balance": parse_stored(value["balance"]),
                     "min_balance": parse_stored(value["min_balance"])})

    try:
        if record["state"] not in STATES:
            raise ValueError(f"unknown state {record['state']!r}")
        ids = [record[key] for key in ("transfer_id", "source", "target", "request")]
        if not all(isinstance(text, str) and text for text in ids):
            raise ValueError(f"ids are not strings: {ids!r}")
        amount = parse_stored(record["amount"])
        if amount <= 0 or not (record["error"] is None or isinstance(record["error"], dict)):
            raise ValueError(f"bad amount or error: {record!r}")
        return TransferRecord(
            transfer_id=ids[0], source=ids[1], target=ids[2], amount=amount,
            state=record["state"], request=ids[3], error=record["error"],
            source_after=stored_side(record["source_after"]),
            target_after=stored_side(record["target_after"]),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as error:
        raise ValueError(f"malformed transfer record: {error}") from error


# -- strict field checks ---------------------------------------------------------------------
def _check_fields(record: Any, allowed: frozenset[str]) -> None:
    if not isinstance(record, dict):
        raise ValueError(f"not a record: {record!r}")
    unknown = set(record) - allowed
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")


def _count(value: Any, *, minimum: int) -> int:
    """An integer from storage (JSON's ``true`` is not 1 here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"not a count of at least {minimum}: {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a non-empty string: {value!r}")
    return value


def _only_if(present: bool, record: dict[str, Any], key: str, parse: Any) -> Any:
    """A field some event types must carry and the others must not."""
    if present:
        return parse(record[key])
    if key in record:
        raise ValueError(f"{key!r} does not belong in a {record['type']} event")
    return None


def _money_or_none(value: Any) -> Decimal | None:
    return None if value is None else parse_stored(value)
